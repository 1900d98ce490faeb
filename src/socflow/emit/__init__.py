"""Emit stage: TheHive alerts built from detections, the durable outbox and delivery from it."""
