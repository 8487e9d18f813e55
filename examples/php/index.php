<?php
// The example application: plain PHP, one front controller, run with the built-in server:
//
//   GERBANG_ISSUER=https://sso.jemberkab.go.id CLIENT_ID=… CLIENT_SECRET=… APP_URL=http://localhost:8000 \
//     php -S 127.0.0.1:8000 -t examples/php examples/php/index.php
//
// Routes: /  /login[?level=2]  /callback  /me (JSON)  /logout, and /api/profil (an API taking
// Gerbang access tokens).
// In a real application the settings come from its configuration and the result is the
// application's own session (user id, roles), not a JSON page.

declare(strict_types=1);

require __DIR__ . '/oidc.php';

$appUrl = rtrim((string) getenv('APP_URL'), '/');
$oidc = new GerbangClient(
    (string) getenv('GERBANG_ISSUER'),
    (string) getenv('CLIENT_ID'),
    (string) getenv('CLIENT_SECRET'),
    $appUrl . '/callback',
    sys_get_temp_dir(), // discovery and JWKS cache: in production a directory only this application writes
);
// Claims for the NIP, the OPD unit and the roles; add `nik` only if the application is
// registered for it (personal data, UU 27/2022).
const SCOPE = 'openid profile nip opd roles';

session_name('contoh_php');
session_set_cookie_params(['httponly' => true, 'samesite' => 'Lax', 'secure' => str_starts_with($appUrl, 'https://')]);
session_start();

function json_response(int $status, array $body): void
{
    http_response_code($status);
    header('Content-Type: application/json');
    header('Cache-Control: no-store');
    echo json_encode($body, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
}

function redirect(string $url): void
{
    header('Location: ' . $url, true, 303);
}

$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
try {
    switch ($path) {
        case '/':
            $out = isset($_GET['state'], $_SESSION['logout_state']) && hash_equals($_SESSION['logout_state'], $_GET['state']);
            unset($_SESSION['logout_state']);
            header('Content-Type: text/html; charset=utf-8');
            echo $out ? '<p>Anda telah keluar.</p>' : '';
            echo isset($_SESSION['user']) ? '<p><a href="/me">Profil</a> · <a href="/logout">Keluar</a></p>'
                : '<p><a href="/login">Masuk dengan SSO</a></p>';
            break;

        case '/login':
            // ?level=2 asks for security level 2 (an authenticator app) for this login.
            $level = isset($_GET['level']) ? 'urn:gerbang:loa:' . (int) $_GET['level'] : null;
            [$url, $pending] = $oidc->authorizationRequest(SCOPE, $level);
            $_SESSION['oidc'] = $pending;
            redirect($url);
            break;

        case '/callback':
            $pending = $_SESSION['oidc'] ?? null;
            unset($_SESSION['oidc']);
            if ($pending === null) {
                json_response(400, ['error' => 'no_login_in_progress']);
                break;
            }
            try {
                $tokens = $oidc->callback($_GET, $pending);
            } catch (OidcError $e) {
                // unmet_authentication_requirements: the person cannot reach the level asked
                // for (no authenticator app or passkey yet). Say so, and where to enrol one.
                $status = $e->error === 'unmet_authentication_requirements' || $e->error === 'access_denied' ? 403 : 400;
                json_response($status, ['error' => $e->error, 'error_description' => $e->getMessage()]);
                break;
            }
            $userinfo = $oidc->userinfo($tokens['access_token']);
            if ($userinfo['sub'] !== $tokens['id_claims']['sub']) {
                throw new OidcError('userinfo is about another person');
            }
            // Shown here to prove it works; an application refreshes when the access token
            // (expires_in, 10 minutes by default) runs out. The old refresh token is spent.
            $refreshed = $oidc->refresh($tokens['refresh_token'], $tokens['id_claims']);
            session_regenerate_id(true);
            $_SESSION['user'] = [
                'id_token' => $refreshed['id_token'] ?? $tokens['id_token'],
                'id_claims' => $tokens['id_claims'],
                'userinfo' => $userinfo,
                'refresh_token' => $refreshed['refresh_token'],
                'refreshed_sub' => $refreshed['id_claims']['sub'] ?? null,
            ];
            redirect('/me');
            break;

        case '/me':
            $user = $_SESSION['user'] ?? null;
            if ($user === null) {
                json_response(401, ['error' => 'not_signed_in']);
                break;
            }
            json_response(200, [
                'id_token_verified' => true,
                'id_token' => $user['id_claims'],
                'userinfo' => $user['userinfo'],
                'refreshed' => isset($user['refresh_token']),
                'refreshed_sub' => $user['refreshed_sub'],
            ]);
            break;

        case '/logout':
            $idToken = $_SESSION['user']['id_token'] ?? null;
            session_regenerate_id(true);
            $_SESSION = ['logout_state' => GerbangClient::random()];
            if ($idToken === null) {
                redirect('/');
                break;
            }
            redirect($oidc->logoutUrl($idToken, $appUrl . '/', $_SESSION['logout_state']));
            break;

        case '/api/profil':
            // An API of this application: it accepts Gerbang access tokens issued to this
            // application (and to any other client id listed), nothing else.
            $auth = $_SERVER['HTTP_AUTHORIZATION'] ?? '';
            if (!preg_match('/^Bearer ([A-Za-z0-9._~+\/-]+=*)$/', $auth, $m)) {
                header('WWW-Authenticate: Bearer');
                json_response(401, ['error' => 'invalid_token', 'error_description' => 'a bearer token is required']);
                break;
            }
            try {
                $claims = $oidc->verifyAccessToken($m[1], [(string) getenv('CLIENT_ID')]);
            } catch (OidcError $e) {
                header('WWW-Authenticate: Bearer error="invalid_token"');
                json_response(401, ['error' => 'invalid_token', 'error_description' => $e->getMessage()]);
                break;
            }
            if (!in_array('roles', explode(' ', (string) ($claims['scope'] ?? '')), true)) {
                header('WWW-Authenticate: Bearer error="insufficient_scope", scope="roles"');
                json_response(403, ['error' => 'insufficient_scope']);
                break;
            }
            json_response(200, array_intersect_key($claims, array_flip(
                ['sub', 'client_id', 'scope', 'roles', 'app_roles', 'security_level', 'acr'],
            )));
            break;

        default:
            json_response(404, ['error' => 'not_found']);
    }
} catch (OidcError $e) {
    error_log('OIDC: ' . $e->error . ': ' . $e->getMessage());
    json_response(502, ['error' => $e->error, 'error_description' => $e->getMessage()]);
}
