"""The live dashboard: a Solara app around the market model (``agentmarket viz``)."""
