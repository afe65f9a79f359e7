// The build issue's decisions, pure and table-driven: gate verdicts (command, JUnit counts,
// coverage, Dockerfile lint, image size), the report verdict, the eStargz footer and layer verdict,
// the ref-moved decision, release tag names, image references, buildctl argv, build progress,
// the pipeline's stages, and the build/gates sections of gantry.yaml.
import { describe, expect, it } from '@jest/globals';
import { buildctlArgs, classifyBuildFailure, digestFromMetadata, isDockerfileStep, ProgressTracker } from '../../core/build.js';
import { parseConfig } from '../../core/config.js';
import { FOOTER_SIZE, imageVerdict, layerVerdict, parseFooter, type LayerFacts } from '../../core/estargz.js';
import {
  commandVerdict, coverageVerdict, gatesVerdict, imageSizeVerdict, isAllowedEnvName, isSafeRelativePath, junitVerdict, lintVerdict, parseSize,
  type GateResult, type JunitSummary,
} from '../../core/gates.js';
import { imageManifests, imageSize, parseImageRef, registryScheme } from '../../core/image.js';
import { addStages, endStage, newPipeline, releaseStages, sourceStages, startStage } from '../../core/pipeline.js';
import { isValidRefName, lsRemoteSha, refDecision, renderTag, workspaceName } from '../../core/source.js';

const junit = (o: Partial<JunitSummary>): JunitSummary => ({ files: 1, tests: 0, failures: 0, errors: 0, skipped: 0, failing: [], ...o });

describe('gate verdicts', () => {
  it.each([
    { name: 'exit 0 passes', o: { exitCode: 0, timedOut: false }, pass: true, reason: 'npm test exited 0' },
    { name: 'exit 1 fails', o: { exitCode: 1, timedOut: false }, pass: false, reason: 'npm test exited 1' },
    { name: 'timeout fails', o: { exitCode: null, signal: 'SIGTERM', timedOut: true, timeoutMs: 5000 }, pass: false, reason: 'npm test did not finish within 5000 ms (killed)' },
    { name: 'signal fails', o: { exitCode: null, signal: 'SIGKILL', timedOut: false }, pass: false, reason: 'npm test was killed by SIGKILL' },
    { name: 'spawn error fails', o: { exitCode: null, timedOut: false, error: 'spawn npm ENOENT' }, pass: false, reason: 'could not run npm test: spawn npm ENOENT' },
  ])('command: $name', ({ o, pass, reason }) => {
    expect(commandVerdict(['npm', 'test'], o)).toEqual({ pass, reason });
  });

  it.each([
    { name: 'all pass', s: junit({ tests: 12, skipped: 2 }), pass: true, reason: '12 tests passed, 2 skipped' },
    { name: 'failures name the tests', s: junit({ tests: 3, failures: 1, errors: 1, failing: ['a › one', 'b › two'] }), pass: false, reason: '1 failed, 1 errored of 3 tests: a › one; b › two' },
    { name: 'only errors', s: junit({ tests: 2, errors: 2, failing: ['x', 'y'] }), pass: false, reason: '2 errored of 2 tests: x; y' },
    { name: 'names capped', s: junit({ tests: 20, failures: 12, failing: Array.from({ length: 12 }, (_, i) => `t${i}`) }), pass: false, reason: `12 failed of 20 tests: ${Array.from({ length: 10 }, (_, i) => `t${i}`).join('; ')} and 2 more` },
    { name: 'no report', s: junit({ files: 0 }), pass: false, reason: 'no JUnit report found' },
    { name: 'empty report', s: junit({ tests: 0 }), pass: false, reason: 'the JUnit report has no test cases' },
  ])('JUnit: $name', ({ s, pass, reason }) => {
    expect(junitVerdict(s)).toEqual({ pass, reason });
  });

  it.each([
    { name: 'above', c: { format: 'lcov' as const, covered: 85, total: 100 }, min: 80, pass: true, reason: 'line coverage 85% (85/100 lines) meets the minimum 80%' },
    { name: 'exactly the minimum', c: { format: 'lcov' as const, covered: 80, total: 100 }, min: 80, pass: true, reason: 'line coverage 80% (80/100 lines) meets the minimum 80%' },
    { name: 'a hair below is below', c: { format: 'lcov' as const, covered: 7999, total: 10000 }, min: 80, pass: false, reason: 'line coverage 79.99% (7999/10000 lines) is below the minimum 80%' },
    { name: 'cobertura rate only', c: { format: 'cobertura' as const, covered: 0, total: 0, rate: 0.5 }, min: 60, pass: false, reason: 'line coverage 50% is below the minimum 60%' },
    { name: 'nothing measured', c: { format: 'lcov' as const, covered: 0, total: 0 }, min: 1, pass: false, reason: 'the lcov report has no lines to measure' },
  ])('coverage: $name', ({ c, min, pass, reason }) => {
    expect(coverageVerdict(c, min)).toEqual({ pass, reason });
  });

  const findings = [
    { code: 'DL3007', level: 'warning', line: 1, message: 'Using latest' },
    { code: 'DL4000', level: 'error', line: 2, message: 'MAINTAINER is deprecated' },
    { code: 'DL3048', level: 'style', line: 3, message: 'Invalid label key' },
  ];
  it.each([
    { name: 'warning threshold counts warnings and errors', failOn: 'warning' as const, ignore: [], pass: false, reason: 'Dockerfile: 2 findings at warning or above: DL3007 line 1 (warning): Using latest; DL4000 line 2 (error): MAINTAINER is deprecated' },
    { name: 'error threshold', failOn: 'error' as const, ignore: [], pass: false, reason: 'Dockerfile: 1 finding at error or above: DL4000 line 2 (error): MAINTAINER is deprecated' },
    { name: 'ignored codes do not count', failOn: 'warning' as const, ignore: ['DL3007', 'DL4000'], pass: true, reason: 'Dockerfile: no findings at warning or above (1 below)' },
  ])('lint: $name', ({ failOn, ignore, pass, reason }) => {
    expect(lintVerdict('Dockerfile', findings, failOn, ignore)).toEqual({ pass, reason });
  });

  it.each([
    ['200MB', 200e6], ['1.5GiB', 1.5 * 1024 ** 3], ['512kb', 512e3], ['100', 100], ['10 MiB', 10 * 1024 ** 2], ['lots', undefined], ['-1MB', undefined], ['5TB', undefined],
  ])('parseSize(%s)', (input, want) => {
    expect(parseSize(input as string)).toBe(want);
  });

  it.each([
    { bytes: 10e6, max: '50MB', pass: true, reason: 'image is 10.0 MB, within the budget of 50.0 MB' },
    { bytes: 50e6, max: '50MB', pass: true, reason: 'image is 50.0 MB, within the budget of 50.0 MB' },
    { bytes: 60e6, max: '50MB', pass: false, reason: 'image is 60.0 MB, over the budget of 50.0 MB by 10.0 MB' },
    { bytes: 1, max: 'huge', pass: false, reason: "image size budget 'huge' is not a size" },
  ])('image size $bytes against $max', ({ bytes, max, pass, reason }) => {
    expect(imageSizeVerdict(bytes, max)).toEqual({ pass, reason });
  });

  it('the report verdict lists every failed gate with its reason', () => {
    const r = (name: string, state: GateResult['state'], reason?: string): GateResult => ({ name, type: 'command', state, ...(reason ? { reason } : {}) });
    expect(gatesVerdict([r('a', 'passed'), r('b', 'passed')])).toEqual({ pass: true, reason: '2 gates passed' });
    expect(gatesVerdict([])).toEqual({ pass: true, reason: '0 gates passed' });
    expect(gatesVerdict([r('a', 'failed', 'x exited 1'), r('b', 'passed'), r('c', 'failed', 'no report')]))
      .toEqual({ pass: false, reason: '2 of 3 gates failed: a: x exited 1 | c: no report' });
  });

  it.each([
    ['.', true], ['src/app', true], ['reports/junit.xml', true], ['../etc/passwd', false], ['a/../../b', false], ['/etc', false], ['', false], ['C:/x', false],
  ])('isSafeRelativePath(%s) = %s', (p, ok) => { expect(isSafeRelativePath(p as string)).toBe(ok); });

  it.each([['CI', true], ['NPM_TOKEN', true], ['LD_PRELOAD', false], ['GIT_DIR', false], ['NODE_OPTIONS', false], ['1X', false], ['A-B', false]])(
    'isAllowedEnvName(%s) = %s', (n, ok) => { expect(isAllowedEnvName(n as string)).toBe(ok); });
});

// --- eStargz ------------------------------------------------------------------------------------

/** A footer as the eStargz writer emits it. */
function footer(offset: number, o: { flags?: number; magic?: string; xlen?: number } = {}): Uint8Array {
  const b = new Uint8Array(FOOTER_SIZE);
  b.set([0x1f, 0x8b, 8, o.flags ?? 4, 0, 0, 0, 0, 0, 0xff]);
  const xlen = o.xlen ?? 26;
  b[10] = xlen & 0xff; b[11] = xlen >> 8;
  b.set([0x53, 0x47, 22, 0], 12);
  const payload = `${offset.toString(16).padStart(16, '0')}${o.magic ?? 'STARGZ'}`;
  for (let i = 0; i < 22; i++) b[16 + i] = payload.charCodeAt(i);
  b.set([1, 0, 0, 0xff, 0xff], 38);
  return b;
}

const TOC = `sha256:${'1'.repeat(64)}`;
const good: LayerFacts = {
  digest: `sha256:${'a'.repeat(64)}`, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size: 5000,
  annotations: { 'containerd.io/snapshot/stargz/toc.digest': TOC, 'io.containers.estargz.uncompressed-size': '10240' },
  footer: { ok: true, tocOffset: 4000 }, tocDigest: TOC,
};

describe('eStargz', () => {
  it.each([
    { name: 'a valid footer', b: footer(0x1234), want: { ok: true, tocOffset: 0x1234 } },
    { name: 'a plain gzip member (no FEXTRA)', b: footer(1, { flags: 0 }), want: { ok: false, error: 'the final gzip member has no extra field (not an eStargz footer)' } },
    { name: 'wrong magic', b: footer(1, { magic: 'STARGX' }), want: { ok: false, error: 'the footer payload "0000000000000001STARGX" is not <16 hex digits>STARGZ' } },
    { name: 'wrong extra length', b: footer(1, { xlen: 20 }), want: { ok: false, error: "the footer's extra field is 20 bytes, expected 26" } },
    { name: 'not gzip at all', b: new Uint8Array(FOOTER_SIZE), want: { ok: false, error: 'the last 51 bytes are not a gzip member' } },
    { name: 'too short', b: new Uint8Array(10), want: { ok: false, error: 'footer is 10 bytes, expected 51' } },
  ])('parseFooter: $name', ({ b, want }) => {
    expect(parseFooter(b)).toEqual(want);
  });

  it.each<{ name: string; facts: LayerFacts; reasons: string[] }>([
    { name: 'a conformant layer', facts: good, reasons: [] },
    { name: 'plain gzip layer', facts: { ...good, annotations: {}, footer: { ok: false, error: 'the final gzip member has no extra field (not an eStargz footer)' }, tocDigest: undefined } as LayerFacts,
      reasons: ['annotation containerd.io/snapshot/stargz/toc.digest is missing', 'annotation io.containers.estargz.uncompressed-size is missing', 'footer: the final gzip member has no extra field (not an eStargz footer)'] },
    { name: 'docker media type', facts: { ...good, mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip' }, reasons: ['media type application/vnd.docker.image.rootfs.diff.tar.gzip is not application/vnd.oci.image.layer.v1.tar+gzip'] },
    { name: 'TOC digest mismatch', facts: { ...good, tocDigest: `sha256:${'2'.repeat(64)}` }, reasons: [`TOC digest sha256:${'2'.repeat(64)} does not match the annotation ${TOC}`] },
    { name: 'TOC offset past the end', facts: { ...good, footer: { ok: true, tocOffset: 4990 } }, reasons: ['footer: TOC offset 4990 is past the end of the layer (5000 bytes)'] },
    { name: 'TOC unreadable', facts: { ...good, tocDigest: undefined, tocError: 'the TOC member has no stargz.index.json entry' }, reasons: ['TOC: the TOC member has no stargz.index.json entry'] },
    { name: 'bad size annotation', facts: { ...good, annotations: { ...good.annotations, 'io.containers.estargz.uncompressed-size': 'big' } }, reasons: ['annotation io.containers.estargz.uncompressed-size is not a byte count'] },
  ])('layerVerdict: $name', ({ facts, reasons }) => {
    expect(layerVerdict(facts)).toEqual({ digest: facts.digest, estargz: reasons.length === 0, reasons });
  });

  it('the image verdict needs every layer, and at least one', () => {
    expect(imageVerdict([good, good])).toMatchObject({ estargz: true, reason: 'all 2 layers are eStargz' });
    expect(imageVerdict([])).toMatchObject({ estargz: false, reason: 'the image has no layers' });
    const bad = imageVerdict([good, { ...good, digest: `sha256:${'b'.repeat(64)}`, mediaType: 'x' }]);
    expect(bad.estargz).toBe(false);
    expect(bad.reason).toBe('1 of 2 layers are not eStargz: sha256:bbbbbbbbbbbb: media type x is not application/vnd.oci.image.layer.v1.tar+gzip');
  });
});

// --- source -------------------------------------------------------------------------------------

const A = 'a'.repeat(40), B = 'b'.repeat(40);

describe('source decisions', () => {
  it.each([
    { name: 'no ref: build the sha as asked', ref: undefined, remote: undefined, ok: true },
    { name: 'ref still at the sha', ref: 'refs/heads/main', remote: A, ok: true },
    { name: 'abbreviated sha at the ref', ref: 'refs/heads/main', remote: A, sha: 'aaaaaaa', ok: true },
    { name: 'ref moved', ref: 'refs/heads/main', remote: B, ok: false, code: 'RefMoved', reason: 'ref refs/heads/main moved: it points at bbbbbbbbbbbb now, this pipeline is for aaaaaaaaaaaa' },
    { name: 'ref gone', ref: 'refs/heads/feature', remote: undefined, ok: false, code: 'RefNotFound', reason: 'ref refs/heads/feature does not exist in the repository' },
  ])('refDecision: $name', ({ ref, remote, sha, ok, code, reason }) => {
    const d = refDecision(ref, sha ?? A, remote);
    expect(d.ok).toBe(ok);
    if (!d.ok) expect(d).toEqual({ ok: false, code, reason });
  });

  it('lsRemoteSha prefers the peeled commit of an annotated tag', () => {
    const out = `${B}\trefs/tags/v1\n${A}\trefs/tags/v1^{}\n${'c'.repeat(40)}\trefs/heads/main\n`;
    expect(lsRemoteSha(out, 'refs/tags/v1')).toBe(A);
    expect(lsRemoteSha(out, 'main')).toBe('c'.repeat(40));
    expect(lsRemoteSha(out, 'refs/heads/nope')).toBeUndefined();
  });

  it.each([
    ['release/web/1a2b3c4', true], ['v1.2.3', true], ['-rf', false], ['a..b', false], ['a b', false], ['x.lock', false], ['a/.hidden', false], ['x^{}', false], ['@', false], ['', false],
  ])('isValidRefName(%s) = %s', (n, ok) => { expect(isValidRefName(n as string)).toBe(ok); });

  it.each([
    { t: 'release/{app}/{sha7}', want: { ok: true, tag: 'release/web/abcdef1' } },
    { t: '{env}-{date}-{sha}', want: { ok: true, tag: `production-20261122-abcdef1${'0'.repeat(33)}` } },
    { t: 'v{version}', want: { ok: false, reason: 'unknown placeholder {version} (use {app}, {env}, {sha}, {sha7}, {date})' } },
    { t: 'bad tag {app}', want: { ok: false, reason: "'bad tag web' is not a valid git tag name" } },
  ])('renderTag($t)', ({ t, want }) => {
    expect(renderTag(t, { app: 'web', environment: 'production', sha: `abcdef1${'0'.repeat(33)}`, date: '2026-11-22T10:00:00Z' })).toEqual(want);
  });

  it('workspace names are safe and distinct for similar repos', () => {
    expect(workspaceName('acme/web')).toMatch(/^acme_web-[0-9a-f]{8}$/);
    expect(workspaceName('acme/web')).not.toBe(workspaceName('acme_web'));
    expect(workspaceName('../../etc')).toMatch(/^etc-[0-9a-f]{8}$/);
  });
});

// --- images and builds --------------------------------------------------------------------------

describe('image references and manifests', () => {
  it.each([
    { ref: '127.0.0.1:5000/team/app', want: { registry: '127.0.0.1:5000', repository: 'team/app' } },
    { ref: 'registry.example.com/a/b:v1', want: { registry: 'registry.example.com', repository: 'a/b', tag: 'v1' } },
    { ref: `localhost:5000/app@sha256:${'c'.repeat(64)}`, want: { registry: 'localhost:5000', repository: 'app', digest: `sha256:${'c'.repeat(64)}` } },
    { ref: 'team/app', want: { error: 'team/app: \'team\' is not a registry host (no \'.\' or \':port\')' } },
    { ref: 'app', want: { error: 'app: give the registry host, e.g. 127.0.0.1:5000/team/app' } },
    { ref: 'r.io/App', want: { error: "r.io/App: 'App' is not a valid repository name (lowercase, '/'-separated)" } },
    { ref: 'r.io/app@sha256:abc', want: { error: "r.io/app@sha256:abc: 'sha256:abc' is not a sha256 digest" } },
  ])('parseImageRef($ref)', ({ ref, want }) => { expect(parseImageRef(ref)).toEqual(want); });

  it.each([['127.0.0.1:5000', 'http'], ['localhost:5000', 'http'], ['[::1]:5000', 'http'], ['registry.example.com', 'https'], ['10.0.0.1:5000', 'https']])(
    'registryScheme(%s) = %s', (r, s) => { expect(registryScheme(r)).toBe(s); });

  it('picks image manifests out of an index and sums the pulled bytes', () => {
    const d = (n: string, extra = {}) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${n.repeat(64)}`, size: 1, ...extra });
    expect(imageManifests({ manifests: [d('a', { platform: { os: 'linux', architecture: 'amd64' } }), d('b', { annotations: { 'vnd.docker.reference.type': 'attestation-manifest' }, platform: { os: 'unknown' } })] }).map((x) => x.digest))
      .toEqual([`sha256:${'a'.repeat(64)}`]);
    expect(imageSize({ config: d('c', { size: 500 }), layers: [d('d', { size: 1000 }), d('e', { size: 2000 })] })).toBe(3500);
  });
});

describe('buildctl invocation and progress', () => {
  const plan = {
    addr: 'unix:///run/bk.sock', contextDir: '/w/app', dockerfileDir: '/w/app/docker', dockerfileName: 'Dockerfile.prod', name: '127.0.0.1:5000/t/app:abc',
    cacheRef: '127.0.0.1:5000/t/app:buildcache', args: { VERSION: '1.2', A: 'x' }, secrets: [{ id: 'npm', env: 'NPM_TOKEN' }], metadataFile: '/tmp/m.json',
  };
  it('pushes eStargz with forced compression and OCI media types, registry cache in and out (eStargz, not forced); secrets by env reference only', () => {
    expect(buildctlArgs({ ...plan, target: 'runtime', sourceDateEpoch: 1700000000 })).toEqual([
      '--addr', 'unix:///run/bk.sock', 'build', '--progress', 'rawjson', '--frontend', 'dockerfile.v0',
      '--local', 'context=/w/app', '--local', 'dockerfile=/w/app/docker', '--opt', 'filename=Dockerfile.prod', '--opt', 'target=runtime',
      '--opt', 'build-arg:A=x', '--opt', 'build-arg:VERSION=1.2', '--opt', 'build-arg:SOURCE_DATE_EPOCH=1700000000',
      '--secret', 'id=npm,env=NPM_TOKEN',
      '--output', 'type=image,name=127.0.0.1:5000/t/app:abc,push=true,compression=estargz,force-compression=true,oci-mediatypes=true,rewrite-timestamp=true',
      '--export-cache', 'type=registry,ref=127.0.0.1:5000/t/app:buildcache,mode=max,image-manifest=true,oci-mediatypes=true,compression=estargz',
      '--import-cache', 'type=registry,ref=127.0.0.1:5000/t/app:buildcache',
      '--metadata-file', '/tmp/m.json',
    ]);
  });

  it('counts Dockerfile steps: executed vs cached, vertices reported several times', () => {
    const t = new ProgressTracker();
    t.update([{ digest: 'i', name: '[internal] load build definition from Dockerfile', started: 't', completed: 't' }]);
    t.update([{ digest: '1', name: '[build 1/3] COPY tools/busybox /bin/sh' }, { digest: '2', name: '[build 2/3] RUN make' }]);
    t.update([{ digest: '1', name: '[build 1/3] COPY tools/busybox /bin/sh', started: 't', completed: 't', cached: true }]);
    t.update([{ digest: '2', name: '[build 2/3] RUN make', started: 't' }]);
    expect(t.summary()).toEqual({ total: 2, completed: 1, cached: 1, executed: 0, current: '[build 2/3] RUN make', errors: [] });
    t.update([{ digest: '2', name: '[build 2/3] RUN make', started: 't', completed: 't' }, { digest: '3', name: '[2/2] COPY a b', started: 't', completed: 't', error: 'boom' }]);
    expect(t.summary()).toMatchObject({ total: 3, completed: 3, cached: 1, executed: 2, errors: ['[2/2] COPY a b: boom'] });
  });

  it.each([
    ['[build 2/6] COPY deps/ /deps/', true], ['[2/2] RUN x', true], ['[internal] load .dockerignore', false], ['exporting to image', false], [undefined, false],
  ])('isDockerfileStep(%s) = %s', (n, ok) => { expect(isDockerfileStep(n as string | undefined)).toBe(ok); });

  it('reads the digest from the metadata file; tells build failures from builder failures', () => {
    expect(digestFromMetadata({ 'containerimage.digest': `sha256:${'f'.repeat(64)}` })).toBe(`sha256:${'f'.repeat(64)}`);
    expect(digestFromMetadata({ 'containerimage.digest': 'nope' })).toBeUndefined();
    expect(classifyBuildFailure('error: failed to solve: process "/bin/sh -c make" did not complete successfully: exit code: 2')).toBe('build');
    expect(classifyBuildFailure('error: listing workers: connection error: desc = "transport: Error while dialing: dial unix /run/bk.sock: connect: connection refused"')).toBe('infrastructure');
  });
});

describe('pipeline stages', () => {
  it('source stages, then releases in order, the tag right after the environment it marks', () => {
    const wf = (a: string, e: string) => `release/${a}/${e}`;
    expect(sourceStages().map((s) => s.name)).toEqual(['checkout', 'gates', 'build', 'verify']);
    expect(releaseStages({ app: 'web', environments: ['staging', 'production'], tagAfter: 'staging' }, wf)).toEqual([
      { name: 'release:staging', environment: 'staging', workflowId: 'release/web/staging' }, { name: 'tag' },
      { name: 'release:production', environment: 'production', workflowId: 'release/web/production' },
    ]);
  });

  it('a failed stage fails the pipeline and skips every later stage, including ones added later', () => {
    const p = newPipeline({ id: 'p', repo: 'r', sha: A, stages: sourceStages() }, 0);
    startStage(p, 'checkout', 1000);
    endStage(p, 'checkout', true, undefined, 1500);
    startStage(p, 'gates', 1500);
    endStage(p, 'gates', false, 'unit: 1 failed', 4000);
    addStages(p, [{ name: 'release:prod', environment: 'prod' }]);
    expect(p.stages.map((s) => [s.name, s.state, s.durationMs])).toEqual([
      ['checkout', 'succeeded', 500], ['gates', 'failed', 2500], ['build', 'skipped', undefined], ['verify', 'skipped', undefined], ['release:prod', 'skipped', undefined],
    ]);
    expect(p).toMatchObject({ state: 'failed', reason: 'gates failed: unit: 1 failed' });
  });
});

describe('gantry.yaml build and gates sections', () => {
  const base = { app: { name: 'web', image: '127.0.0.1:5000/t/web' }, environments: [{ name: 'production', replicas: 2, cells: [{ name: 'a' }], groups: [{ pods: 'rest' }] }] };

  it('defaults the build section and keeps the gates', () => {
    const r = parseConfig({ ...base, build: { tag: { name: 'release/{sha7}' } }, gates: [{ name: 'unit', type: 'junit', run: ['npm', 'test'], reports: ['reports/junit.xml'] }, { name: 'size', type: 'image-size', max: '200MB' }] });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.build).toEqual({ context: '.', dockerfile: 'Dockerfile', args: {}, secrets: [], timeout: '30m', tag: { name: 'release/{sha7}' } });
    expect(r.config.gates!.map((g) => g.type)).toEqual(['junit', 'image-size']);
  });

  it('a config without them is unchanged', () => {
    const r = parseConfig(base);
    expect(r.ok && 'build' in r.config).toBe(false);
  });

  it.each([
    { name: 'run as a shell string', gates: [{ name: 'lint', type: 'command', run: 'npm run lint' }], path: 'gates[0].run' },
    { name: 'a report outside the repository', gates: [{ name: 'cov', type: 'coverage', report: '../x/lcov.info', min: 80 }], path: 'gates[0].report' },
    { name: 'coverage above 100', gates: [{ name: 'cov', type: 'coverage', report: 'lcov.info', min: 120 }], path: 'gates[0].min' },
    { name: 'an unknown gate type', gates: [{ name: 'x', type: 'sonar' }], path: 'gates[0].type' },
    { name: 'a size that is not one', gates: [{ name: 's', type: 'image-size', max: 'big' }], path: 'gates[0].max' },
    { name: 'a loader variable', gates: [{ name: 'c', type: 'command', run: ['true'], env: { LD_PRELOAD: '/x.so' } }], path: 'gates[0].env.LD_PRELOAD' },
    { name: 'duplicate gate names', gates: [{ name: 'c', type: 'command', run: ['true'] }, { name: 'c', type: 'command', run: ['false'] }], path: 'gates[1].name' },
  ])('rejects $name at $path', ({ gates, path }) => {
    const r = parseConfig({ ...base, gates });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.path)).toContain(path);
  });

  it.each([
    { name: 'a secret env that is not a variable name', build: { secrets: [{ id: 'npm', env: 'NPM TOKEN' }] }, path: 'build.secrets[0].env' },
    { name: 'a build arg name with a space', build: { args: { 'A B': '1' } }, path: 'build' },
    { name: 'a tag after an unknown environment', build: { tag: { name: 'x', after: 'staging' } }, path: 'build.tag.after' },
  ])('rejects $name', ({ build, path }) => {
    const r = parseConfig({ ...base, build });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map((e) => e.path)).toContain(path);
  });
});
