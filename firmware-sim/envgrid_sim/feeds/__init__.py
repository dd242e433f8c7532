"""Feeds: what crossed the broker, recorded to compressed files and published back later.

``format`` defines the file layout (docs/feeds.md), ``writer``/``reader`` write and read it,
``recorder`` subscribes and writes, ``replayer`` reads and publishes, ``plan`` decides per
topic what a replay does with a message, ``resume`` keeps a replay's place.
"""
