"""Stage 6, the answer: extractive answers and the refusal model (extractive, answerability.json),
stated answers (statement), the OpenAI-compatible LLM client for generative answers (llm).
"""
