// How Gantry's processes reach Temporal: Temporal's own client configuration (@temporalio/envconfig:
// the TEMPORAL_* variables, a TOML profile file, TLS, mTLS, an API key, gRPC metadata), checked at
// start so that a missing key, an unreadable certificate or a key that does not belong to its
// certificate is named before any connection is tried; and connection errors (a wrong CA, a server
// that wants a client certificate) explained with the setting to fix.
//
// Variables (docs.temporal.io, client environment configuration): TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
// TEMPORAL_API_KEY, TEMPORAL_TLS (true/false), TEMPORAL_TLS_SERVER_CA_CERT_PATH (or _DATA),
// TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH (or _DATA), TEMPORAL_TLS_SERVER_NAME,
// TEMPORAL_GRPC_META_<NAME>, TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE (default
// ~/.config/temporalio/temporal.toml). With none of them Gantry connects to localhost:7233 in plain
// text (the local dev server).
import crypto from 'node:crypto';
import fs from 'node:fs';
import { loadClientConfigProfile, type ClientConfigProfile, type ConfigDataSource } from '@temporalio/envconfig';
import type { TLSConfig } from '@temporalio/client';
import type { ConfigError } from '../core/config.js';
import { cap, displayLine, echo } from '../core/text.js';

export const DEFAULT_TEMPORAL_ADDRESS = 'localhost:7233';
export const DEFAULT_NAMESPACE = 'default';

type Env = Readonly<Record<string, string | undefined>>;

/** What a connection is made with; printable (paths and flags only, no key material). */
export interface TemporalSettings {
  address: string;
  namespace: string;
  /** Whether anything configured Temporal (a variable or a profile); false: the localhost default. */
  configured: boolean;
  /** The profile read from the config file, if one was. */
  profile?: string;
  /** TLS: off, or what it uses (file paths, or 'inline' for *_DATA values). */
  tls: false | { serverName?: string; serverCa?: string; clientCert?: string; clientKey?: string };
  /** Whether an API key is sent (its value is only in `connection`). */
  apiKey: boolean;
  /** Options for Connection.connect and NativeConnection.connect (holds the key and the API key: non-enumerable). */
  readonly connection: TemporalConnectionOptions;
}

export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
  metadata?: Record<string, string>;
}

const HINTS = {
  address: 'the Temporal frontend as host:port, e.g. temporal-frontend.temporal:7233, or <namespace>.<account>.tmprl.cloud:7233 (default localhost:7233)',
  namespace: "a Temporal namespace name, e.g. 'default' or 'gantry.a1b2c'",
  profile: 'a profile name of the config file ([profile.<name>] in TEMPORAL_CONFIG_FILE, default ~/.config/temporalio/temporal.toml), or unset it for the default profile',
  configFile: 'a TOML file of Temporal client profiles (docs.temporal.io: client environment configuration), or unset it',
  ca: 'a PEM file of the CA that signed the Temporal frontend\'s certificate (unset: the system\'s trusted CAs, as for Temporal Cloud)',
  cert: 'the PEM client certificate for mTLS; set TEMPORAL_TLS_CLIENT_KEY_PATH to its key',
  key: 'the PEM private key of the client certificate (TEMPORAL_TLS_CLIENT_CERT_PATH)',
} as const;

/** The name a setting goes by: the variable when it is set, else its place in the profile file. */
function settingName(env: Env, variable: string, profileKey: string, profile: string | undefined): string {
  if (env[variable] !== undefined) return variable;
  const data = variable.replace(/_PATH$/, '_DATA');
  if (data !== variable && env[data] !== undefined) return data;
  return profile ? `profile.${profile}.${profileKey}` : variable;
}

function readSource(src: ConfigDataSource): Buffer {
  return 'path' in src ? fs.readFileSync(src.path) : Buffer.from(src.data);
}

const describe = (src: ConfigDataSource | undefined): string | undefined => (src ? ('path' in src ? src.path : 'inline') : undefined);

/** Temporal's connection settings from `env` (and the profile file it names); problems go to `errors`. */
export function loadTemporalSettings(env: Env, errors: ConfigError[], validAddress: (a: string) => boolean, validNamespace: (n: string) => boolean): TemporalSettings {
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && (k.startsWith('TEMPORAL_') || k === 'HOME' || k.startsWith('XDG_') || k === 'APPDATA')) vars[k] = v;
  const profileName = env.TEMPORAL_PROFILE?.trim() || '';
  const configFile = env.TEMPORAL_CONFIG_FILE?.trim();
  let p: ClientConfigProfile = {};
  const fallback = (): TemporalSettings => withConnection({ address: DEFAULT_TEMPORAL_ADDRESS, namespace: DEFAULT_NAMESPACE, configured: false, tls: false, apiKey: false }, { address: DEFAULT_TEMPORAL_ADDRESS });
  if (configFile && !fs.existsSync(configFile)) {
    errors.push({ path: 'TEMPORAL_CONFIG_FILE', message: `${configFile} does not exist`, hint: HINTS.configFile });
    return fallback();
  }
  try {
    p = loadClientConfigProfile({ overrideEnvVars: vars });
  } catch (err) {
    const m = err instanceof Error ? err.message : String(err);
    if (/^Profile '.*' not found/.test(m)) errors.push({ path: 'TEMPORAL_PROFILE', message: `no profile ${echo(profileName)} in ${configFile ?? 'the Temporal config file'}`, hint: HINTS.profile });
    else errors.push({ path: 'TEMPORAL_CONFIG_FILE', message: `cannot be read as a Temporal profile file: ${cap(displayLine(m), 200)}`, hint: HINTS.configFile });
    return fallback();
  }
  // The profile a setting may come from (named in messages); only when a file was asked for.
  const profile = configFile || profileName ? profileName || 'default' : undefined;
  const name = (variable: string, key: string) => settingName(env, variable, key, profile);

  const address = p.address?.trim() || DEFAULT_TEMPORAL_ADDRESS;
  if (!validAddress(address)) errors.push({ path: name('TEMPORAL_ADDRESS', 'address'), message: `expected host:port, got ${echo(address)}`, hint: HINTS.address });
  const namespace = p.namespace?.trim() || DEFAULT_NAMESPACE;
  if (!validNamespace(namespace)) errors.push({ path: name('TEMPORAL_NAMESPACE', 'namespace'), message: `no spaces or control characters, got ${echo(namespace)}`, hint: HINTS.namespace });

  // TLS: on when configured (and not disabled), or when an API key is sent (Temporal Cloud), as the SDK does.
  const t = p.tls;
  const apiKey = p.apiKey?.trim() || undefined;
  const tlsOn = t ? t.disabled !== true : !!apiKey;
  let tls: TLSConfig | boolean | undefined;
  let shown: TemporalSettings['tls'] = false;
  if (tlsOn) {
    const caName = name('TEMPORAL_TLS_SERVER_CA_CERT_PATH', 'tls.server_ca_cert_path');
    const certName = name('TEMPORAL_TLS_CLIENT_CERT_PATH', 'tls.client_cert_path');
    const keyName = name('TEMPORAL_TLS_CLIENT_KEY_PATH', 'tls.client_key_path');
    const load = (src: ConfigDataSource | undefined, setting: string, hint: string, parse: (b: Buffer) => unknown): Buffer | undefined => {
      if (!src) return undefined;
      let b: Buffer;
      try { b = readSource(src); } catch (err) {
        errors.push({ path: setting, message: `cannot read ${describe(src)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, hint });
        return undefined;
      }
      try { parse(b); } catch {
        errors.push({ path: setting, message: `${describe(src)} is not a PEM ${setting === keyName ? 'private key' : 'certificate'}`, hint });
        return undefined;
      }
      return b;
    };
    const ca = load(t?.serverCACert, caName, HINTS.ca, (b) => new crypto.X509Certificate(b));
    const crt = load(t?.clientCert, certName, HINTS.cert, (b) => new crypto.X509Certificate(b));
    const key = load(t?.clientKey, keyName, HINTS.key, (b) => crypto.createPrivateKey(b));
    if (t?.clientCert && !t.clientKey) errors.push({ path: keyName, message: `is not set, but ${certName} is: mTLS needs the client certificate and its key`, hint: HINTS.key });
    if (t?.clientKey && !t.clientCert) errors.push({ path: certName, message: `is not set, but ${keyName} is: mTLS needs the client certificate and its key`, hint: HINTS.cert });
    if (crt && key && !new crypto.X509Certificate(crt).checkPrivateKey(crypto.createPrivateKey(key))) {
      errors.push({ path: keyName, message: `the key in ${describe(t?.clientKey)} does not belong to the certificate in ${describe(t?.clientCert)}`, hint: HINTS.key });
    }
    tls = {
      ...(t?.serverName ? { serverNameOverride: t.serverName } : {}),
      ...(ca ? { serverRootCACertificate: ca } : {}),
      ...(crt && key ? { clientCertPair: { crt, key } } : {}),
    };
    shown = {
      ...(t?.serverName ? { serverName: t.serverName } : {}),
      ...(t?.serverCACert ? { serverCa: describe(t.serverCACert)! } : {}),
      ...(t?.clientCert ? { clientCert: describe(t.clientCert)! } : {}),
      ...(t?.clientKey ? { clientKey: describe(t.clientKey)! } : {}),
    };
  }
  return withConnection(
    {
      address, namespace, configured: p.address !== undefined, ...(profile ? { profile } : {}),
      tls: shown, apiKey: !!apiKey,
    },
    { address, ...(tls !== undefined ? { tls } : {}), ...(apiKey ? { apiKey } : {}), ...(p.grpcMeta && Object.keys(p.grpcMeta).length ? { metadata: p.grpcMeta } : {}) },
  );
}

function withConnection(s: Omit<TemporalSettings, 'connection'>, connection: TemporalConnectionOptions): TemporalSettings {
  return Object.defineProperty(s, 'connection', { value: connection, enumerable: false }) as TemporalSettings;
}

/** One line for a startup banner (no secrets). */
export function describeTemporal(s: TemporalSettings): string {
  const tls = s.tls === false ? 'plain text' : `TLS${s.tls.clientCert ? ' with a client certificate (mTLS)' : ''}${s.tls.serverCa ? `, CA ${s.tls.serverCa}` : ''}`;
  return `${s.address} (namespace ${s.namespace}, ${tls}${s.apiKey ? ', API key' : ''}${s.profile ? `, profile ${s.profile}` : ''})`;
}

/**
 * A connection failure explained: which setting to look at. The SDK's messages come from its Rust
 * core (rustls, tonic), e.g. "invalid peer certificate: UnknownIssuer".
 */
export function temporalConnectError(s: TemporalSettings, err: unknown): Error {
  const m = cap(displayLine(err instanceof Error ? err.message : String(err)), 400);
  const where = `cannot connect to Temporal at ${describeTemporal(s)}: ${m}`;
  let fix: string;
  if (s.tls !== false && /UnknownIssuer|BadSignature|invalid peer certificate|certificate verify|self.signed/i.test(m)) {
    fix = s.tls.serverCa
      ? `the server's certificate is not signed by the CA in TEMPORAL_TLS_SERVER_CA_CERT_PATH (${s.tls.serverCa}): give the CA that signed the Temporal frontend's certificate`
      : 'the server\'s certificate is not signed by a CA this machine trusts: set TEMPORAL_TLS_SERVER_CA_CERT_PATH to the CA that signed it';
  } else if (s.tls !== false && /NotValidForName|not valid for name|CertNotValidForName/i.test(m)) {
    fix = 'the server\'s certificate does not name this address: set TEMPORAL_TLS_SERVER_NAME to a name it carries';
  } else if (s.tls !== false && !s.tls.clientCert && /certificate required|handshake|CertificateRequired|bad certificate|connection reset|connection closed|broken pipe|unexpected eof|tls/i.test(m)) {
    // TLS 1.3: the client finishes its side of the handshake before the server checks for a client
    // certificate, so a refusal often arrives as the connection closing ("connection closed").
    fix = 'the server refused the TLS handshake; if it requires client certificates (mTLS), set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH';
  } else if (s.tls !== false && /bad certificate|unknown ca|certificate unknown|decrypt|handshake|tls|ConnectionReset|connection reset|connection closed|broken pipe|unexpected eof/i.test(m)) {
    fix = 'the server refused the client certificate: check that TEMPORAL_TLS_CLIENT_CERT_PATH is signed by the CA the server trusts for clients';
  } else if (s.tls === false && /connection reset|broken pipe|h2 protocol|frame|unexpected eof/i.test(m)) {
    fix = 'the server may require TLS: set TEMPORAL_TLS=true (and TEMPORAL_TLS_SERVER_CA_CERT_PATH when its CA is private)';
  } else {
    fix = s.configured ? 'check TEMPORAL_ADDRESS (or the profile\'s address) and that the frontend is reachable from here' : 'set TEMPORAL_ADDRESS to your Temporal frontend (the default is localhost:7233)';
  }
  return new Error(`${where}\n  hint: ${fix}`);
}
