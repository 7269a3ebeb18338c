"""Deployment of a trained policy: its card, its ONNX export, and the runtime that serves it.

``policy_card`` is the card's schema (pydantic); ``export`` turns an SB3 model into
``policy.onnx`` + ``policy.json`` (needs torch); ``runtime`` loads and checks them with
onnxruntime and numpy only (importing it imports neither torch nor gymnasium; a test checks).
"""
