-- The tables of Nginx Proxy Manager's database.sqlite that the importer
-- reads, as its migrations leave them (column names and types per
-- backend/migrations), with rows as its UI writes them.
CREATE TABLE proxy_host (
  id integer PRIMARY KEY AUTOINCREMENT, created_on datetime NOT NULL, modified_on datetime NOT NULL,
  owner_user_id integer NOT NULL, is_deleted integer NOT NULL DEFAULT 0, domain_names json NOT NULL,
  forward_host varchar(255) NOT NULL, forward_port integer NOT NULL, access_list_id integer NOT NULL DEFAULT 0,
  certificate_id integer NOT NULL DEFAULT 0, ssl_forced integer NOT NULL DEFAULT 0, caching_enabled integer NOT NULL DEFAULT 0,
  block_exploits integer NOT NULL DEFAULT 0, advanced_config text NOT NULL DEFAULT '', meta json NOT NULL,
  allow_websocket_upgrade integer NOT NULL DEFAULT 0, http2_support integer NOT NULL DEFAULT 0,
  forward_scheme varchar(255) NOT NULL DEFAULT 'http', enabled integer NOT NULL DEFAULT 1, locations json,
  hsts_enabled integer NOT NULL DEFAULT 0, hsts_subdomains integer NOT NULL DEFAULT 0,
  trust_forwarded_proto tinyint NOT NULL DEFAULT 0);
CREATE TABLE redirection_host (
  id integer PRIMARY KEY AUTOINCREMENT, created_on datetime NOT NULL, modified_on datetime NOT NULL,
  owner_user_id integer NOT NULL, is_deleted integer NOT NULL DEFAULT 0, domain_names json NOT NULL,
  forward_domain_name varchar(255) NOT NULL, preserve_path integer NOT NULL DEFAULT 0,
  certificate_id integer NOT NULL DEFAULT 0, ssl_forced integer NOT NULL DEFAULT 0, block_exploits integer NOT NULL DEFAULT 0,
  advanced_config text NOT NULL DEFAULT '', meta json NOT NULL, http2_support integer NOT NULL DEFAULT 0,
  enabled integer NOT NULL DEFAULT 1, hsts_enabled integer NOT NULL DEFAULT 0, hsts_subdomains integer NOT NULL DEFAULT 0,
  forward_scheme varchar(255) NOT NULL DEFAULT 'auto', forward_http_code integer NOT NULL DEFAULT 302);
CREATE TABLE dead_host (
  id integer PRIMARY KEY AUTOINCREMENT, created_on datetime NOT NULL, modified_on datetime NOT NULL,
  owner_user_id integer NOT NULL, is_deleted integer NOT NULL DEFAULT 0, domain_names json NOT NULL,
  certificate_id integer NOT NULL DEFAULT 0, ssl_forced integer NOT NULL DEFAULT 0, advanced_config text NOT NULL DEFAULT '',
  meta json NOT NULL, http2_support integer NOT NULL DEFAULT 0, enabled integer NOT NULL DEFAULT 1,
  hsts_enabled integer NOT NULL DEFAULT 0, hsts_subdomains integer NOT NULL DEFAULT 0);
CREATE TABLE stream (
  id integer PRIMARY KEY AUTOINCREMENT, created_on datetime NOT NULL, modified_on datetime NOT NULL,
  owner_user_id integer NOT NULL, is_deleted integer NOT NULL DEFAULT 0, incoming_port integer NOT NULL,
  forwarding_host varchar(255) NOT NULL, forwarding_port integer NOT NULL, tcp_forwarding integer NOT NULL DEFAULT 0,
  udp_forwarding integer NOT NULL DEFAULT 0, meta json NOT NULL, enabled integer NOT NULL DEFAULT 1,
  certificate_id integer NOT NULL DEFAULT 0);
CREATE TABLE access_list (
  id integer PRIMARY KEY AUTOINCREMENT, created_on datetime NOT NULL, modified_on datetime NOT NULL,
  owner_user_id integer NOT NULL, is_deleted integer NOT NULL DEFAULT 0, name varchar(255) NOT NULL, meta json NOT NULL,
  satisfy_any integer NOT NULL DEFAULT 0, pass_auth integer NOT NULL DEFAULT 1);
CREATE TABLE access_list_auth (
  id integer PRIMARY KEY AUTOINCREMENT, created_on datetime NOT NULL, modified_on datetime NOT NULL,
  access_list_id integer NOT NULL, username varchar(255) NOT NULL, password varchar(255) NOT NULL, meta json NOT NULL);
CREATE TABLE access_list_client (
  id integer PRIMARY KEY AUTOINCREMENT, created_on datetime NOT NULL, modified_on datetime NOT NULL,
  access_list_id integer NOT NULL, address varchar(255) NOT NULL, directive varchar(255) NOT NULL, meta json NOT NULL);
CREATE TABLE certificate (
  id integer PRIMARY KEY AUTOINCREMENT, created_on datetime NOT NULL, modified_on datetime NOT NULL,
  owner_user_id integer NOT NULL, is_deleted integer NOT NULL DEFAULT 0, provider varchar(255) NOT NULL,
  nice_name varchar(255) NOT NULL DEFAULT '', domain_names json NOT NULL, expires_on datetime NOT NULL, meta json NOT NULL);

INSERT INTO certificate VALUES
  (1, '2024-03-01 10:00:00', '2024-03-01 10:00:00', 1, 0, 'letsencrypt', '', '["app.example.com"]', '2024-05-30 10:00:00', '{"letsencrypt_email":"ops@example.com","letsencrypt_agree":true,"dns_challenge":false}'),
  (2, '2024-03-02 10:00:00', '2024-03-02 10:00:00', 1, 0, 'other', 'corp wildcard', '["*.corp.example.com"]', '2025-03-02 10:00:00', '{}');

INSERT INTO access_list VALUES
  (1, '2024-03-01 10:00:00', '2024-03-01 10:00:00', 1, 0, 'office', '{}', 0, 1),
  (2, '2024-03-01 10:00:00', '2024-03-01 10:00:00', 1, 0, 'staff', '{}', 1, 1);
INSERT INTO access_list_client VALUES
  (1, '2024-03-01 10:00:00', '2024-03-01 10:00:00', 1, '192.168.1.0/24', 'allow', '{}'),
  (2, '2024-03-01 10:00:00', '2024-03-01 10:00:00', 1, 'all', 'deny', '{}'),
  (3, '2024-03-01 10:00:00', '2024-03-01 10:00:00', 2, '10.0.0.0/8', 'allow', '{}'),
  (4, '2024-03-01 10:00:00', '2024-03-01 10:00:00', 2, 'all', 'deny', '{}');
INSERT INTO access_list_auth VALUES
  (1, '2024-03-01 10:00:00', '2024-03-01 10:00:00', 2, 'bob', 'plain-npm-password', '{}');

-- {UPSTREAM} is replaced by the tests with a reachable host:port.
INSERT INTO proxy_host (id, created_on, modified_on, owner_user_id, domain_names, forward_host, forward_port, access_list_id,
  certificate_id, ssl_forced, caching_enabled, block_exploits, advanced_config, meta, allow_websocket_upgrade, forward_scheme,
  enabled, locations, hsts_enabled, hsts_subdomains) VALUES
  (1, '2024-03-01 10:00:00', '2024-03-01 10:00:00', 1, '["app.example.com","www.app.example.com"]', '{UPSTREAM_HOST}', {UPSTREAM_PORT}, 0,
   1, 1, 0, 1, '', '{"letsencrypt_agree":true}', 1, 'http', 1, '[]', 1, 1),
  (2, '2024-03-01 10:00:00', '2024-03-01 10:00:00', 1, '["office.example.com"]', '10.0.0.7', 8443, 1,
   0, 0, 1, 0, 'client_max_body_size 100m;', '{}', 0, 'https', 1, NULL, 0, 0),
  (3, '2024-03-01 10:00:00', '2024-03-01 10:00:00', 1, '["wiki.corp.example.com"]', 'wiki', 3000, 2,
   2, 1, 0, 0, '', '{}', 0, 'http', 0, '[{"path":"/api","forward_scheme":"http","forward_host":"api","forward_port":80}]', 0, 0);
INSERT INTO proxy_host (id, created_on, modified_on, owner_user_id, is_deleted, domain_names, forward_host, forward_port, meta) VALUES
  (4, '2024-03-01 10:00:00', '2024-03-04 10:00:00', 1, 1, '["deleted.example.com"]', '10.0.0.9', 80, '{}');

INSERT INTO redirection_host (id, created_on, modified_on, owner_user_id, domain_names, forward_domain_name, preserve_path,
  certificate_id, ssl_forced, meta, forward_scheme, forward_http_code) VALUES
  (1, '2024-03-01 10:00:00', '2024-03-01 10:00:00', 1, '["old.example.com"]', 'new.example.com', 1, 1, 1, '{}', 'https', 301),
  (2, '2024-03-01 10:00:00', '2024-03-01 10:00:00', 1, '["legacy.example.com"]', 'example.com/landing', 0, 0, 0, '{}', 'auto', 303);

INSERT INTO dead_host (id, created_on, modified_on, owner_user_id, domain_names, meta) VALUES
  (1, '2024-03-01 10:00:00', '2024-03-01 10:00:00', 1, '["parked.example.com"]', '{}');

INSERT INTO stream (id, created_on, modified_on, owner_user_id, incoming_port, forwarding_host, forwarding_port, tcp_forwarding, meta) VALUES
  (1, '2024-03-01 10:00:00', '2024-03-01 10:00:00', 1, 5432, 'db', 5432, 1, '{}');
