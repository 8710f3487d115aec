ALTER TABLE widgets ADD COLUMN colour text NOT NULL DEFAULT 'blue';
