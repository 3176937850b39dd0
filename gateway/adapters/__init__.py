"""The adapters behind the domain's ports (the embedded roster, the pathway tables).

Constructed only by gateway.wiring, the composition root.
"""
