"""Signals between apps that must not import each other.

``alert_opened`` is sent by monitoring when an alert opens, after the alert is
committed; the trainer listens (its retraining policies may be triggered by an
alert) without monitoring knowing of the trainer or the trainer importing
monitoring. Keyword arguments: ``alert_id``, ``model_name``, ``model_version``,
``kind`` (the rule kind), ``severity``, ``title``, ``value``.
"""

from django.dispatch import Signal

alert_opened = Signal()
