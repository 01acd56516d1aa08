"""The agents of the market: developers, labs, clouds and upstream suppliers."""
