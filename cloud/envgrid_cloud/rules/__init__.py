"""Rules as data: packs per site category turn readings, detections and silence into cases."""
