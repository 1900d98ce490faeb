"""Cortex responders: one module per responder, each a thin SocflowResponder subclass."""
