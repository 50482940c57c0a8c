"""Stage 3, the index: plain versioned files swapped in atomically (files), the incremental build
(build), the vectors behind a small store interface (vectors: FAISS), the writer lock (locking).
"""
