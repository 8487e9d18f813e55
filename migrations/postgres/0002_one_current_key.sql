-- At most one current signing key per algorithm, even when two replicas start together on an
-- empty database: the loser's insert fails and it loads the winner's key instead.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (alg) WHERE state = 'current';
