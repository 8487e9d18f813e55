<?php
// Checks GerbangClient::verifyIdToken offline with a key made here: a good token passes, and a
// forged signature, another algorithm, a wrong issuer, audience, nonce or an expired token are
// refused; then verifyAccessToken (typ at+jwt, audience). Run by examples/run.sh php before the
// live sign-in:  php examples/php/selftest.php

declare(strict_types=1);

require __DIR__ . '/oidc.php';

$issuer = 'https://sso.contoh.go.id';
$dir = sys_get_temp_dir() . '/gerbang-selftest-' . bin2hex(random_bytes(6));
mkdir($dir);
$key = openssl_pkey_new(['private_key_bits' => 2048, 'private_key_type' => OPENSSL_KEYTYPE_RSA]);
$rsa = openssl_pkey_get_details($key)['rsa'];
$jwk = ['kty' => 'RSA', 'kid' => 'k1', 'alg' => 'RS256', 'use' => 'sig',
    'n' => GerbangClient::b64url($rsa['n']), 'e' => GerbangClient::b64url($rsa['e'])];
// The client reads discovery and JWKS from its cache directory first: seed both.
$file = fn (string $name) => "$dir/gerbang-$name-" . md5($issuer) . '.json';
file_put_contents($file('discovery'), json_encode(['issuer' => $issuer, 'jwks_uri' => 'http://127.0.0.1:9/jwks']));
file_put_contents($file('jwks'), json_encode(['keys' => [$jwk]]));
$client = new GerbangClient($issuer, 'contoh', 'rahasia', 'https://app.contoh.go.id/callback', $dir);

function sign(array $claims, $key, array $header = ['alg' => 'RS256', 'kid' => 'k1', 'typ' => 'JWT']): string
{
    $input = GerbangClient::b64url(json_encode($header)) . '.' . GerbangClient::b64url(json_encode($claims));
    openssl_sign($input, $signature, $key, OPENSSL_ALGO_SHA256);
    return $input . '.' . GerbangClient::b64url($signature);
}

$now = time();
$good = ['iss' => $issuer, 'aud' => 'contoh', 'azp' => 'contoh', 'sub' => 'u1', 'exp' => $now + 600, 'iat' => $now,
    'nonce' => 'n1', 'nip' => '198503122010011001'];
$other = openssl_pkey_new(['private_key_bits' => 2048, 'private_key_type' => OPENSSL_KEYTYPE_RSA]);
$token = sign($good, $key);
[$h, $p, $s] = explode('.', $token);
$cases = [
    'forged signature (another key)' => [sign($good, $other), 'n1'],
    'payload changed after signing' => ["$h." . GerbangClient::b64url(json_encode(['sub' => 'u2'] + $good)) . ".$s", 'n1'],
    'alg none' => [GerbangClient::b64url('{"alg":"none","kid":"k1"}') . ".$p.", 'n1'],
    'another issuer' => [sign(['iss' => 'https://evil.example'] + $good, $key), 'n1'],
    'another audience' => [sign(['aud' => 'lain'] + $good, $key), 'n1'],
    'expired' => [sign(['exp' => $now - 3600] + $good, $key), 'n1'],
    'wrong nonce' => [$token, 'n2'],
];
$failures = 0;
try {
    $claims = $client->verifyIdToken($token, 'n1');
    echo $claims['nip'] === '198503122010011001' ? "ok: a good ID token passes\n" : "FAILED: claims lost\n";
} catch (OidcError $e) {
    echo "FAILED: a good ID token was refused: {$e->getMessage()}\n";
    $failures++;
}
foreach ($cases as $name => [$jwt, $nonce]) {
    try {
        $client->verifyIdToken($jwt, $nonce);
        echo "FAILED: accepted: $name\n";
        $failures++;
    } catch (OidcError $e) {
        echo "ok: refused ($name): {$e->getMessage()}\n";
    }
}
// Access tokens, as an API checks them: typ at+jwt, audience among the accepted client ids.
$access = ['iss' => $issuer, 'aud' => 'contoh', 'client_id' => 'contoh', 'sub' => 'u1', 'exp' => $now + 600,
    'iat' => $now, 'scope' => 'openid roles'];
$at = sign($access, $key, ['alg' => 'RS256', 'kid' => 'k1', 'typ' => 'at+jwt']);
try {
    $client->verifyAccessToken($at, ['contoh']);
    echo "ok: a good access token passes\n";
} catch (OidcError $e) {
    echo "FAILED: a good access token was refused: {$e->getMessage()}\n";
    $failures++;
}
$api = [
    'an ID token as an access token' => fn () => $client->verifyAccessToken($token, ['contoh']),
    'an access token as an ID token' => fn () => $client->verifyIdToken($at, null),
    'an access token for another application' => fn () => $client->verifyAccessToken($at, ['lain']),
    'an expired access token' => fn () => $client->verifyAccessToken(
        sign(['exp' => $now - 3600] + $access, $key, ['alg' => 'RS256', 'kid' => 'k1', 'typ' => 'at+jwt']),
        ['contoh'],
    ),
];
foreach ($api as $name => $call) {
    try {
        $call();
        echo "FAILED: accepted: $name\n";
        $failures++;
    } catch (OidcError $e) {
        echo "ok: refused ($name): {$e->getMessage()}\n";
    }
}
array_map('unlink', glob("$dir/*"));
rmdir($dir);
exit($failures === 0 ? 0 : 1);
