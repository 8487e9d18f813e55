<?php
// A minimal OpenID Connect relying party for Gerbang in plain PHP (php-cli + php-curl, no
// Composer): discovery, the authorization request with PKCE, the code exchange, ID token
// verification (RS256 against the JWKS, with openssl), userinfo, refresh and the logout URL.
// The same functions fit a CodeIgniter library or a Laravel service class.

declare(strict_types=1);

/** A failed step; `error` is the OAuth error code when Gerbang gave one (else `invalid_response`). */
final class OidcError extends RuntimeException
{
    public function __construct(string $message, public readonly string $error = 'invalid_response')
    {
        parent::__construct($message);
    }
}

final class GerbangClient
{
    /** Seconds of clock difference tolerated on exp and iat. */
    private const LEEWAY = 60;
    /** How long discovery and JWKS are kept (Gerbang sends JWKS with max-age 3600). */
    private const CACHE_SECONDS = 3600;

    public function __construct(
        private string $issuer,
        private string $clientId,
        private string $clientSecret,
        private string $redirectUri,
        private string $cacheDir,
    ) {
        $this->issuer = rtrim($issuer, '/');
    }

    /** The provider metadata, cached in a file. Its `issuer` must be the configured one. */
    public function discovery(): array
    {
        $doc = $this->cached('discovery', fn () => $this->getJson($this->issuer . '/.well-known/openid-configuration'));
        if (($doc['issuer'] ?? null) !== $this->issuer) {
            throw new OidcError('discovery names another issuer');
        }
        return $doc;
    }

    /**
     * Starts a login: returns [URL to redirect the browser to, values to keep in the session].
     * $acrValues asks for a security level, e.g. 'urn:gerbang:loa:2'.
     */
    public function authorizationRequest(string $scope, ?string $acrValues = null): array
    {
        $pending = [
            'state' => self::random(),
            'nonce' => self::random(),
            'verifier' => self::random(48),
        ];
        $params = [
            'response_type' => 'code',
            'client_id' => $this->clientId,
            'redirect_uri' => $this->redirectUri,
            'scope' => $scope,
            'state' => $pending['state'],
            'nonce' => $pending['nonce'],
            'code_challenge' => self::b64url(hash('sha256', $pending['verifier'], true)),
            'code_challenge_method' => 'S256',
        ];
        if ($acrValues !== null) {
            $params['acr_values'] = $acrValues;
        }
        $url = $this->discovery()['authorization_endpoint'] . '?' . http_build_query($params, '', '&', PHP_QUERY_RFC3986);
        return [$url, $pending];
    }

    /**
     * Handles the redirect back: checks `state` and `iss` (RFC 9207), turns an error into an
     * OidcError carrying the code, exchanges the code and verifies the ID token. Returns the
     * token response with the verified claims under 'id_claims'.
     */
    public function callback(array $query, array $pending): array
    {
        if (!isset($query['state']) || !hash_equals($pending['state'], (string) $query['state'])) {
            throw new OidcError('state does not match this browser\'s login');
        }
        if (isset($query['iss']) && $query['iss'] !== $this->issuer) {
            throw new OidcError('the response comes from another issuer');
        }
        if (isset($query['error'])) {
            throw new OidcError((string) ($query['error_description'] ?? ''), (string) $query['error']);
        }
        $tokens = $this->token([
            'grant_type' => 'authorization_code',
            'code' => (string) ($query['code'] ?? ''),
            'redirect_uri' => $this->redirectUri,
            'code_verifier' => $pending['verifier'],
        ]);
        $tokens['id_claims'] = $this->verifyIdToken($tokens['id_token'] ?? '', $pending['nonce']);
        return $tokens;
    }

    /** A refresh: a new access token, a new (rotated) refresh token and a new ID token. */
    public function refresh(string $refreshToken, array $previousClaims): array
    {
        $tokens = $this->token(['grant_type' => 'refresh_token', 'refresh_token' => $refreshToken]);
        if (isset($tokens['id_token'])) {
            $claims = $this->verifyIdToken($tokens['id_token'], null);
            // OIDC Core §12.2: the same person, for the same application.
            if ($claims['sub'] !== $previousClaims['sub'] || $claims['aud'] !== $previousClaims['aud']) {
                throw new OidcError('the refreshed ID token names another person');
            }
            $tokens['id_claims'] = $claims;
        }
        return $tokens;
    }

    public function userinfo(string $accessToken): array
    {
        return $this->request($this->discovery()['userinfo_endpoint'], null, ['Authorization: Bearer ' . $accessToken]);
    }

    /** Where to send the browser to end the single sign-on session (RP-initiated logout). */
    public function logoutUrl(string $idToken, string $postLogoutRedirectUri, string $state): string
    {
        return $this->discovery()['end_session_endpoint'] . '?' . http_build_query([
            'id_token_hint' => $idToken,
            'post_logout_redirect_uri' => $postLogoutRedirectUri,
            'state' => $state,
        ], '', '&', PHP_QUERY_RFC3986);
    }

    /** Checks signature (RS256, key by `kid` from the JWKS), typ, iss, aud/azp, exp, iat and nonce. */
    public function verifyIdToken(string $jwt, ?string $nonce): array
    {
        // An ID token's typ is JWT; an access token (at+jwt) or logout token must not pass for one.
        $claims = $this->verifyJws($jwt, 'ID token', fn (?string $typ) => $typ === null || $typ === 'jwt');
        $aud = (array) ($claims['aud'] ?? []);
        $this->check('ID token', $claims, [
            'aud' => in_array($this->clientId, $aud, true) && (count($aud) === 1 || ($claims['azp'] ?? null) === $this->clientId),
            'iat' => is_int($claims['iat'] ?? null) && $claims['iat'] < time() + self::LEEWAY,
            'nonce' => $nonce === null || hash_equals($nonce, (string) ($claims['nonce'] ?? '')),
        ]);
        return $claims;
    }

    /**
     * For an API: checks a bearer access token (RFC 9068: typ at+jwt, RS256 by the JWKS, iss,
     * exp, aud among the client ids this API serves). Returns its claims (sub, client_id,
     * scope, roles, app_roles, security_level, acr, sid). Revocation is not seen here: use
     * introspection where a logout must count before `exp`.
     */
    public function verifyAccessToken(string $jwt, array $acceptedClientIds): array
    {
        $claims = $this->verifyJws($jwt, 'access token', fn (?string $typ) => $typ === 'at+jwt');
        $this->check('access token', $claims, [
            'aud' => in_array($claims['aud'] ?? null, $acceptedClientIds, true),
        ]);
        return $claims;
    }

    /** Signature and header (RS256 only, `typ` as `$typOk` says), then iss, exp and sub. */
    private function verifyJws(string $jwt, string $what, callable $typOk): array
    {
        $parts = explode('.', $jwt);
        if (count($parts) !== 3) {
            throw new OidcError("the $what is not a JWS");
        }
        [$h, $p, $s] = $parts;
        $header = json_decode(self::b64urlDecode($h), true);
        $claims = json_decode(self::b64urlDecode($p), true);
        if (!is_array($header) || !is_array($claims)) {
            throw new OidcError("the $what cannot be read");
        }
        // Accept exactly the algorithm registered for this application (never `none` or HS256).
        if (($header['alg'] ?? '') !== 'RS256') {
            throw new OidcError("unexpected $what algorithm");
        }
        if (!$typOk(isset($header['typ']) ? strtolower((string) $header['typ']) : null)) {
            throw new OidcError("this is not an $what (typ)");
        }
        $key = $this->publicKey((string) ($header['kid'] ?? ''));
        if (openssl_verify("$h.$p", self::b64urlDecode($s), $key, OPENSSL_ALGO_SHA256) !== 1) {
            throw new OidcError("the $what signature is invalid");
        }
        $this->check($what, $claims, [
            'iss' => ($claims['iss'] ?? null) === $this->issuer,
            'exp' => is_int($claims['exp'] ?? null) && $claims['exp'] > time() - self::LEEWAY,
            'sub' => is_string($claims['sub'] ?? null) && $claims['sub'] !== '',
        ]);
        return $claims;
    }

    private function check(string $what, array $claims, array $checks): void
    {
        foreach ($checks as $name => $ok) {
            if (!$ok) {
                throw new OidcError("the $what's $name is wrong");
            }
        }
    }

    /**
     * The JWKS key `kid` as an OpenSSL key. An unknown kid fetches the JWKS once more (a key
     * rotation), but not more often than every 30 seconds: forged kids must not make every
     * request fetch it.
     */
    private function publicKey(string $kid): OpenSSLAsymmetricKey
    {
        foreach ([false, true] as $refetch) {
            if ($refetch) {
                if (@filemtime($this->cacheFile('jwks')) > time() - 30) {
                    break;
                }
                @unlink($this->cacheFile('jwks'));
            }
            $jwks = $this->cached('jwks', fn () => $this->getJson($this->discovery()['jwks_uri']));
            foreach ($jwks['keys'] ?? [] as $jwk) {
                if (($jwk['kid'] ?? null) === $kid && ($jwk['kty'] ?? null) === 'RSA') {
                    $key = openssl_pkey_get_public(self::rsaPem($jwk['n'], $jwk['e']));
                    if ($key === false) {
                        throw new OidcError('the JWKS key cannot be loaded');
                    }
                    return $key;
                }
            }
        }
        throw new OidcError('no key in the JWKS for this ID token');
    }

    /** PEM SubjectPublicKeyInfo of an RSA key from its JWK modulus and exponent. */
    private static function rsaPem(string $n, string $e): string
    {
        $int = fn (string $b) => "\x02" . self::derLength(strlen($b = (ord($b[0]) > 0x7f ? "\0" . $b : $b))) . $b;
        $seq = fn (string $c) => "\x30" . self::derLength(strlen($c)) . $c;
        $rsaKey = $seq($int(self::b64urlDecode($n)) . $int(self::b64urlDecode($e)));
        $algorithm = $seq("\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01\x05\x00"); // rsaEncryption, NULL
        $spki = $seq($algorithm . "\x03" . self::derLength(strlen($rsaKey) + 1) . "\0" . $rsaKey);
        return "-----BEGIN PUBLIC KEY-----\n" . chunk_split(base64_encode($spki), 64, "\n") . "-----END PUBLIC KEY-----\n";
    }

    private static function derLength(int $len): string
    {
        if ($len < 0x80) {
            return chr($len);
        }
        $bytes = ltrim(pack('N', $len), "\0");
        return chr(0x80 | strlen($bytes)) . $bytes;
    }

    /** The token endpoint, authenticating with client_secret_basic (RFC 6749 §2.3.1). */
    private function token(array $form): array
    {
        $basic = base64_encode(urlencode($this->clientId) . ':' . urlencode($this->clientSecret));
        return $this->request($this->discovery()['token_endpoint'], $form, ['Authorization: Basic ' . $basic]);
    }

    private function getJson(string $url): array
    {
        return $this->request($url, null, []);
    }

    /** GET (or POST a form) and decode JSON; an OAuth error answer becomes an OidcError. */
    private function request(string $url, ?array $form, array $headers): array
    {
        $ch = curl_init($url);
        curl_setopt_array($ch, [
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_TIMEOUT => 10,
            CURLOPT_HTTPHEADER => array_merge(['Accept: application/json'], $headers),
        ]);
        if ($form !== null) {
            curl_setopt($ch, CURLOPT_POSTFIELDS, http_build_query($form, '', '&'));
        }
        $body = curl_exec($ch);
        $status = curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
        $error = curl_error($ch);
        curl_close($ch);
        if ($body === false) {
            throw new OidcError("cannot reach $url: $error");
        }
        $json = json_decode($body, true);
        if ($status !== 200 || !is_array($json)) {
            $code = is_array($json) ? (string) ($json['error'] ?? 'http_' . $status) : 'http_' . $status;
            $description = is_array($json) ? (string) ($json['error_description'] ?? '') : '';
            throw new OidcError($description, $code);
        }
        return $json;
    }

    private function cached(string $name, callable $fetch): array
    {
        $file = $this->cacheFile($name);
        if (is_file($file) && filemtime($file) > time() - self::CACHE_SECONDS) {
            $value = json_decode((string) file_get_contents($file), true);
            if (is_array($value)) {
                return $value;
            }
        }
        $value = $fetch();
        file_put_contents($file, json_encode($value), LOCK_EX);
        return $value;
    }

    private function cacheFile(string $name): string
    {
        return $this->cacheDir . '/gerbang-' . $name . '-' . md5($this->issuer) . '.json';
    }

    public static function random(int $bytes = 32): string
    {
        return self::b64url(random_bytes($bytes));
    }

    public static function b64url(string $bytes): string
    {
        return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
    }

    public static function b64urlDecode(string $s): string
    {
        $out = base64_decode(strtr($s, '-_', '+/'), true);
        if ($out === false) {
            throw new OidcError('bad base64url');
        }
        return $out;
    }
}
