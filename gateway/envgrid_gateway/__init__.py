"""The township gateway: validates node messages and forwards them to the cloud."""
