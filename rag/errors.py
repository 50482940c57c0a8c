"""The few named errors the library raises; the CLI and the UI turn them into messages."""


class RagError(Exception):
    """Base class: the message says what went wrong and what to do."""


class InputError(RagError):
    """A question, file or setting the user gave cannot be used."""


class IndexMissing(RagError):
    """No index exists where one was expected."""


class IndexCorrupt(RagError):
    """An index exists but fails its checks (checksum, model, dimension, format)."""


class IndexBusy(RagError):
    """Another writer holds the index's lock."""


class IndexWriteError(RagError):
    """The index could not be written (permissions, a full disk); the previous version still serves."""
