-- One snapshot's JPEG.
SELECT jpeg FROM snapshots WHERE node_id = %(node_id)s AND event_id = %(event_id)s
