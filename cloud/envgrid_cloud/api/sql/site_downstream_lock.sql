-- Writers of downstream links take turns, so two of them cannot close a circle together.
LOCK TABLE site_downstream IN SHARE ROW EXCLUSIVE MODE
