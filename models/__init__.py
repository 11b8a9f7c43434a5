"""Shipped models (installed as ``aipolicy.shipped_models``): one folder per model, each with
model.joblib, card.json and MODEL_CARD.md. ``models/default`` is what ``aipolicy label`` uses."""
