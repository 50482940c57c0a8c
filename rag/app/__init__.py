"""The programs: the `rag` command (cli), the HTTP server that mounts the chat (server), readers'
feedback (feedback).
"""
