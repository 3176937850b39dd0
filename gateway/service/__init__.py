"""The case service: submit, change, decide, add information, expire; the request identity.

Every collaborator comes in through the constructor (gateway.wiring builds it); it renders
nothing: channels render after the commit.
"""
