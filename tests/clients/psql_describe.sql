-- psql's \d and \d+ on a table and \d on its indexes; the expected output is what PostgreSQL 15 prints.
CREATE TABLE described (id integer PRIMARY KEY, owner text NOT NULL DEFAULT 'nobody', balance numeric(12,2), code varchar(8) UNIQUE);
CREATE INDEX described_owner ON described (owner);
\d described
\d described_owner
\d described_pkey
\d+ described
