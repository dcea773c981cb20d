"""Guardrails outside the model: input rails before inference, output rails on the answer."""
