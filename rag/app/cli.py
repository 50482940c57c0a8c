"""The `rag` command: index, ask, serve, eval. Errors become one line on stderr and exit code 1."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

from ..errors import RagError
from . import feedback

EXIT_ERROR = 1


def _engine(args, **kw):
    from ..answer.llm import LLMConfig
    from ..engine import Engine

    llm = LLMConfig.from_env(getattr(args, "llm_url", None), getattr(args, "llm_model", None),
                             getattr(args, "llm_timeout", None))
    return Engine(args.index, model=getattr(args, "model", None), llm=llm, reranker=getattr(args, "reranker", None), **kw)


def _waiting(message: str) -> None:
    print(f"rag: {message} ...", file=sys.stderr, flush=True)


def cmd_index(args) -> int:
    from ..text.chunking import DEFAULT_CHUNK_TOKENS
    from ..text.ingest import MAX_DOCUMENT_CHARS

    kw = {"chunk_tokens": args.chunk_tokens or DEFAULT_CHUNK_TOKENS,
          "max_document_chars": args.max_doc_chars or MAX_DOCUMENT_CHARS,
          "lock_timeout": args.lock_timeout}
    report = _engine(args, **kw).index(args.paths or ["seeds"], rebuild=args.rebuild, skip_bad=args.skip_bad,
                                       progress=not args.json and sys.stderr.isatty() or args.progress,
                                       on_wait=_waiting)
    for err in report.errors:
        print(f"rag: skipped {err}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print(f"{report.documents} documents, {report.sentences} sentences, {report.chunks} chunks in {args.index}/ "
              f"({report.embedded_documents} documents embedded, {report.skipped} unchanged, "
              f"{report.removed} removed, {report.seconds:.1f} s)")
    return 0


def _print_answer(answer, show_scores: bool = False) -> None:
    print(answer.answer)
    if answer.notice:
        print(f"({answer.notice})")
    for c in answer.claims or []:
        if not c["supported"]:
            print(f"  removed, not supported by its citations: {c['text']}")
    if answer.citations:
        print("\nSources:")
    for c in answer.citations:
        _print_citation(c, show_scores)
    if answer.related:
        print("\nRelated, not cited:")
    for c in answer.related:
        _print_citation(c, show_scores)


def _print_citation(c, show_scores: bool) -> None:
    meta = ", ".join(x for x in (c.source, c.published[:10]) if x)
    score = f" (score {c.score:.3f})" if show_scores else ""
    print(f"[{c.n}] {c.title}{f' ({meta})' if meta else ''}{score}\n    \"{c.sentence}\"")


def cmd_ask(args) -> int:
    from ..engine import check_question
    from ..question.filters import parse_filters

    filters = parse_filters(args.source, args.since, args.until)  # bad input fails before a model loads
    engine = _engine(args)
    if args.question == "-":
        engine.load()
        status = 0
        # Bytes, decoded line by line: an undecodable line gets its error object and the batch goes on.
        for raw in sys.stdin.buffer:
            line = raw.decode("utf-8", "surrogateescape")
            if not line.strip():
                continue
            try:
                out = engine.ask(line.rstrip("\r\n"), top_k=args.top_k, filters=filters).to_json()
            except RagError as e:  # one bad line must not end the batch
                shown = raw.decode("utf-8", "replace").strip()
                out, status = {"question": shown, "error": str(e)}, EXIT_ERROR
            print(json.dumps(out, ensure_ascii=False), flush=True)
        return status
    check_question(args.question)  # fail on bad input before loading a model
    answer = engine.ask(args.question, top_k=args.top_k, filters=filters)
    if args.json:
        print(json.dumps(answer.to_json(), ensure_ascii=False))
    else:
        _print_answer(answer, args.scores)
    return 0


def cmd_feedback(args) -> int:
    entries = feedback.read(args.index)
    if args.rating:
        entries = [e for e in entries if e.get("rating") == args.rating]
    if args.json:
        for e in entries:
            print(json.dumps(e, ensure_ascii=False))
        return 0
    if not entries:
        print(f"no feedback in {feedback.path(args.index)}")
        return 0
    for e in entries:
        cited = ", ".join(sorted({str(c.get("doc_id")) for c in e.get("citations") or []})) or "nothing cited"
        answer = " ".join(str(e.get("answer", "")).split())
        answer = answer if len(answer) <= 160 else answer[:157] + "..."
        print(f"{e.get('time', '')}  {e.get('rating', ''):<7} {e.get('question', '')}\n"
              f"    answer: {answer}\n    cited: {cited}")
    counts = {r: sum(1 for e in entries if e.get("rating") == r) for r in feedback.RATINGS}
    print(f"{len(entries)} ratings: {counts['up']} up, {counts['down']} down, {counts['cleared']} cleared")
    return 0


def cmd_check(args) -> int:
    """Hash every file of the index's current version whole against its manifest (a load samples
    the large ones)."""
    import time
    from pathlib import Path

    from ..index import files as index_io

    t0 = time.perf_counter()
    data = index_io.load(Path(args.index), whole=True)
    size = sum(f.stat().st_size for f in data.path.iterdir())
    print(f"{args.index}/{data.version}: every file matches its sha256 in the manifest "
          f"({len(data.documents)} documents, {size / 2**20:,.1f} MB read in {time.perf_counter() - t0:.1f} s)")
    return 0


def cmd_serve(args) -> int:
    from ..answer.llm import LLMConfig
    from .server import serve

    serve(args.index, args.seeds, args.host, args.port, args.allow_origin,
          public_url=args.public_url or os.environ.get("RAG_PUBLIC_URL"), model=args.model,
          llm=LLMConfig.from_env(args.llm_url, args.llm_model, args.llm_timeout), reranker=args.reranker)
    return 0


def cmd_eval(args) -> int:
    from ..answer.llm import LLMConfig

    if args.benchmark == "multihop":
        from ..eval import multihop

        return multihop.run(args.data_dir, args.split, args.limit, args.eval_index, args.model, args.reranker,
                            args.reader, metadata=not args.no_metadata,
                            llm=LLMConfig.from_env(args.llm_url, args.llm_model, args.llm_timeout),
                            llm_limit=args.llm_limit, json_out=args.json_out)
    from ..eval import newsqa

    return newsqa.run(args.benchmark, args.data_dir, args.split, args.limit, args.corpus, args.eval_index, args.model,
                      args.reranker, args.reader, baselines=not args.no_baselines, json_out=args.json_out)


def _whole(option: str, low: int, high: int):
    """An argparse type: a whole number within [low, high], with a message naming the option."""
    def parse(value: str) -> int:
        try:
            k = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} must be a whole number, not {value!r}") from None
        if not low <= k <= high:
            raise argparse.ArgumentTypeError(f"{option} of {k} is outside {low} to {high:,}")
        return k
    return parse


_top_k = _whole("--top-k", 1, 50)


class _Parser(argparse.ArgumentParser):
    """Usage errors as everywhere else in rag: one line on stderr, exit status 1."""

    def error(self, message: str):
        m = re.match(r"argument ([^:]+): (.*)", message, re.S)
        if m:  # "argument --top-k: --top-k of 0 ..." says the option once
            message = m.group(2) if m.group(2).startswith(m.group(1).split("/")[0]) else f"{m.group(1)}: {m.group(2)}"
        self.exit(EXIT_ERROR, f"rag: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="rag", description="Cited answers from news articles.")
    sub = p.add_subparsers(dest="command", required=True)

    def llm_args(sp):
        sp.add_argument("--llm-url", default=None, help="OpenAI-compatible server for generative answers "
                        "(or RAG_LLM_URL; the key is read from RAG_LLM_API_KEY or OPENAI_API_KEY)")
        sp.add_argument("--llm-model", default=None, help="model name sent to the server (or RAG_LLM_MODEL)")
        sp.add_argument("--llm-timeout", type=float, default=None, help="seconds before falling back (default 10)")

    def reranker_arg(sp):
        sp.add_argument("--reranker", default=os.environ.get("RAG_RERANKER"), metavar="MODEL",
                        help="a sentence-transformers cross-encoder (name or path) to reorder each ranking's "
                             "best chunks (or RAG_RERANKER; default: none)")

    def common(sp):
        sp.add_argument("--index", default=os.environ.get("RAG_INDEX", "index"), help="index directory (default index/)")
        sp.add_argument("--model", default=os.environ.get("RAG_MODEL"),
                        help="sentence-transformers model name or path (default: the bundled all-MiniLM-L6-v2)")

    sp = sub.add_parser("index", help="index articles (.txt .md .html .json .jsonl)")
    sp.add_argument("paths", nargs="*", help="files or directories (default seeds/)")
    common(sp)
    sp.add_argument("--json", action="store_true", help="print one JSON object")
    sp.add_argument("--rebuild", action="store_true", help="start from an empty index")
    sp.add_argument("--skip-bad", action="store_true", help="index the good files and report the bad ones")
    sp.add_argument("--chunk-tokens", type=_whole("--chunk-tokens", 32, 4096), default=None,
                    help="chunk size limit in tokens, 32 to 4096 (default 256)")
    sp.add_argument("--max-doc-chars", type=_whole("--max-doc-chars", 1000, 100_000_000), default=None,
                    help="refuse a document longer than this many characters (default 1,000,000, or RAG_MAX_DOC_CHARS)")
    sp.add_argument("--lock-timeout", type=float, default=None, metavar="SECONDS",
                    help="give up after waiting this long for another writer (default: wait)")
    sp.add_argument("--progress", action="store_true", help="show a progress bar even when not on a terminal")
    sp.set_defaults(func=cmd_index)

    sp = sub.add_parser("ask", help="ask a question; QUESTION '-' reads one per line from stdin")
    sp.add_argument("question")
    common(sp)
    sp.add_argument("--top-k", type=_top_k, default=5, help="sentences retrieved: those the answer cites, the rest listed as related (default 5)")
    sp.add_argument("--json", action="store_true", help="print JSON")
    sp.add_argument("--scores", action="store_true", help="show citation scores")
    sp.add_argument("--source", default=None, metavar="OUTLET[,OUTLET]",
                    help="search only articles from these outlets (names as in the articles' metadata)")
    sp.add_argument("--since", default=None, metavar="YYYY-MM-DD", help="only articles published on or after")
    sp.add_argument("--until", default=None, metavar="YYYY-MM-DD", help="only articles published on or before")
    reranker_arg(sp)
    llm_args(sp)
    sp.set_defaults(func=cmd_ask)

    sp = sub.add_parser("serve", help="serve the chat, the HTTP API and the embeddable widget")
    common(sp)
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=int, default=7860)
    sp.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                    help="a web origin allowed to call the API and embed the widget (repeatable)")
    sp.add_argument("--seeds", default="seeds", help="articles indexed on first start when no index exists")
    sp.add_argument("--public-url", default=None, metavar="URL",
                    help="the server's public address, used in the /embed.html snippet (or RAG_PUBLIC_URL)")
    reranker_arg(sp)
    llm_args(sp)
    sp.set_defaults(func=cmd_serve)

    sp = sub.add_parser("feedback", help="print the readers' thumbs up / down on answers, oldest first")
    sp.add_argument("--index", default=os.environ.get("RAG_INDEX", "index"), help="index directory (default index/)")
    sp.add_argument("--rating", choices=feedback.RATINGS, default=None, help="only these ratings")
    sp.add_argument("--json", action="store_true", help="one JSON object per line")
    sp.set_defaults(func=cmd_feedback)

    sp = sub.add_parser("check", help="verify every byte of the index against its manifest's checksums")
    sp.add_argument("--index", default=os.environ.get("RAG_INDEX", "index"), help="index directory (default index/)")
    sp.set_defaults(func=cmd_check)

    sp = sub.add_parser("eval", help="measure retrieval and answers on a benchmark")
    sp.add_argument("benchmark", choices=["multihop", "multihop-qa", "realtimeqa", "jsonl"],
                    help="multihop: MultiHop-RAG's own metrics; multihop-qa (the same data), realtimeqa, jsonl: "
                         "cited answers beside plain dense and BM25 baselines")
    sp.add_argument("data_dir", help="the dataset's folder (for jsonl: the questions file)")
    sp.add_argument("--corpus", default=None, help="jsonl: the articles, .jsonl records with an \"id\"")
    sp.add_argument("--no-baselines", action="store_true", help="realtimeqa, jsonl: score the product only")
    sp.add_argument("--reader", default=None, metavar="DIR",
                    help="a reader trained by tools/train_reader.py (none ships: see BENCHMARKS.md)")
    sp.add_argument("--index", dest="eval_index", default=None,
                    help="index directory for the benchmark corpus (default .cache/multihop-index/)")
    sp.add_argument("--model", default=os.environ.get("RAG_MODEL"), help="embedding model (default: bundled)")
    sp.add_argument("--split", choices=["dev", "test", "all"], default="test")
    sp.add_argument("--limit", type=int, default=None)
    sp.add_argument("--json", dest="json_out", default=None, metavar="OUT")
    sp.add_argument("--no-metadata", action="store_true",
                    help="only the run without outlet/date cues read from the question")
    reranker_arg(sp)
    llm_args(sp)
    sp.add_argument("--llm-limit", type=int, default=40, help="questions answered by the LLM (default 40)")
    sp.set_defaults(func=cmd_eval)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except RagError as e:
        print(f"rag: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("rag: interrupted; the index is unchanged", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
