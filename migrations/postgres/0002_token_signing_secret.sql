-- Tokens used by signing senders (Grafana, GitHub) carry the shared secret their
-- signatures are checked with. It must be readable to compute an HMAC, so it is stored
-- as given; it is never returned by the API or the CLI.
ALTER TABLE public.tokens ADD COLUMN signing_secret TEXT;
