"""The on-duty desk (值班台): the web pages officers and reviewers work on, served by the cloud.

Built with NiceGUI, whose wheel ships everything a page loads (Vue, Quasar, ECharts, Leaflet,
fonts, socket.io): nothing comes from another host. It is mounted on the API's FastAPI app by
:func:`envgrid_cloud.desk.mount.mount_desk` (``envgrid cloud`` does so) and reads and writes
through the same functions as the API, as the signed-in user, so it sees exactly what that user
may see through the API.
"""
