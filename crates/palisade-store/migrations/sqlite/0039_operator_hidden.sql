-- A listing an operator hid after a scam report: the merchant cannot publish it again (product editor, API, CSV
-- import); only an operator can clear the flag.
ALTER TABLE products ADD COLUMN hidden_by_operator INTEGER NOT NULL DEFAULT 0;
