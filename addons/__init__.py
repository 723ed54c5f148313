"""Plug-ins loaded by the Rasa server itself (not the action server).

Channels (``rest``, ``telegram``), the turn guard every message passes (``guard``),
NLU components (``safety``, ``classifier``), stores (``tracker_store``, ``locks``),
the response generator (``nlg``) and erasure (``privacy``). Importing this package
applies the project's patches of Rasa internals (``patches``), so any Rasa server that
loads one of these plug-ins runs every message through the guard.
"""

from addons import patches

patches.install()
