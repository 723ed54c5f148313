"""Plug-ins loaded by the Rasa server itself (not the action server).

``safety``: the NLU component that runs the risk rule layer on every message.
``nlg``: the response generator that fills in the clinic's settings.
"""
