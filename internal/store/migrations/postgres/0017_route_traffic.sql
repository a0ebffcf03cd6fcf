-- Each node's traffic per route and minute, for the dashboard's charts:
-- requests by status class and the latency histogram's bucket counts
-- (JSON, per bucket). A node writes only the minutes of routes that had
-- requests, one row per route, minute and node; the maintenance loop
-- deletes rows older than two hours.
CREATE TABLE route_traffic (
	node      TEXT    NOT NULL,
	node_name TEXT    NOT NULL,
	route_id  TEXT    NOT NULL,
	minute    BIGINT  NOT NULL,
	c1        BIGINT  NOT NULL,
	c2        BIGINT  NOT NULL,
	c3        BIGINT  NOT NULL,
	c4        BIGINT  NOT NULL,
	c5        BIGINT  NOT NULL,
	buckets   TEXT    NOT NULL,
	PRIMARY KEY (route_id, minute, node)
);
CREATE INDEX route_traffic_minute ON route_traffic(minute);
