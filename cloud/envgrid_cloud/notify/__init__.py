"""Notifications that reach phones: WeCom and DingTalk group robots, e-mail.

A case change writes outbox rows in its own transaction (``outbox``): one per channel told of
it. The deliverer (``deliver``) sends them at least once, each channel within its rate, a
backlog as one digest per message; every attempt and its answer is kept. Reminders
(``reminders``) re-send an unacknowledged case to its assignee; silences (``silences``) hold a
site's or a rule's notifications for a while. Messages are written in ``text`` and sent by one
module per kind of channel (``wecom``, ``dingtalk``, ``email``).
"""
