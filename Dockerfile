# Gantry's image: one image, the entry point chosen per Deployment.
#
# Build:   buildctl build --frontend dockerfile.v0 --local context=. --local dockerfile=. \
#            [--opt build-arg:NODE_IMAGE=<a Node 20.20.2 bookworm image>] [--opt target=build-worker]
#          (or `docker build .`); Gantry builds it with its own pipeline from gantry.yaml.
# Targets: the default (last stage, `gantry`): the API and the release worker;
#          `build-worker`: the same plus git, buildctl and hadolint, for GANTRY_WORKER_ROLE=build.
# Base:    ARG NODE_IMAGE, default the public node:20.20.2-bookworm-slim (the test bed passes its
#          local one, testbed/base-image.ts). No `# syntax=` line: the built-in frontend is used,
#          so nothing is pulled from Docker Hub but the base images themselves.
#
# For the manifests (deploy/):
#   user:            10001:10001 (numeric; runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001)
#   workingDir:      /app (the image's WORKDIR; the commands below are relative to it)
#   read-only root:  yes (readOnlyRootFilesystem: true) given two writable mounts (emptyDirs):
#                      /tmp             tsx's compile cache, temporary files (HOME is /home/gantry, read-only, nothing writes it)
#                      /var/lib/gantry  GANTRY_DATA_DIR: workspaces, pipeline logs, simulated cluster (workers)
#   API:             command: ["node", "--import", "tsx", "api/main.ts"]   (the image's default CMD)
#                    port 8080/TCP (GANTRY_API_ADDR=0.0.0.0:8080); liveness GET /healthz, readiness GET /readyz (no token)
#   release worker:  command: ["node", "--import", "tsx", "worker/main.ts"]
#                    env GANTRY_WORKER_ROLE=release, GANTRY_BUILD_TASK_QUEUE=<another queue>; no port
#   build worker:    image target build-worker, command: ["node", "--import", "tsx", "worker/main.ts"]
#                    env GANTRY_WORKER_ROLE=build, GANTRY_BUILD_TASK_QUEUE, GANTRY_BUILDKIT_ADDR; no port
#   worker probes:   none by default; GANTRY_HEALTH_ADDR=0.0.0.0:<port> serves GET /healthz and /readyz (worker/health.ts)
#   CLI:             `gantry …` (/usr/local/bin/gantry -> /app/cli/bin.js), e.g. kubectl exec … -- gantry config validate -f …
#   image env:       NODE_ENV=production, GANTRY_DATA_DIR=/var/lib/gantry,
#                    GANTRY_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js (prebuilt at image build time),
#                    GANTRY_API_ADDR=0.0.0.0:8080, HOME=/home/gantry
#   Node is PID 1 and handles SIGTERM itself (the API closes, the worker shuts its Temporal workers down): no init needed.

ARG NODE_IMAGE=node:20.20.2-bookworm-slim
ARG BUILDKIT_IMAGE=moby/buildkit:v0.31.2
ARG HADOLINT_IMAGE=hadolint/hadolint:v2.14.0

# The user and the writable data dir first (they never change), then the production dependencies
# only (tsx is one: it runs the TypeScript at run time). The final stage starts from here, so the
# dependency tree is one layer, built and compressed once.
FROM ${NODE_IMAGE} AS deps
RUN groupadd --gid 10001 gantry \
    && useradd --no-log-init --uid 10001 --gid 10001 --home-dir /home/gantry --shell /usr/sbin/nologin gantry \
    && mkdir -p /home/gantry /var/lib/gantry \
    && chown 10001:10001 /var/lib/gantry \
    && ln -s /app/cli/bin.js /usr/local/bin/gantry
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm ci --omit=dev --no-audit --no-fund --loglevel=warn

# The Temporal workflow bundle, prebuilt (Temporal's `production` sample): workers load it
# instead of running webpack over the sources at every start.
FROM deps AS bundle
COPY . .
RUN node --import tsx worker/build-bundle.ts /app/dist/workflow-bundle.js

# Everything under /app belongs to root: the code cannot be changed by the process that runs it.
FROM deps AS runtime
COPY . .
COPY --from=bundle /app/dist/workflow-bundle.js ./dist/workflow-bundle.js
ENV NODE_ENV=production \
    GANTRY_DATA_DIR=/var/lib/gantry \
    GANTRY_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js \
    GANTRY_API_ADDR=0.0.0.0:8080 \
    HOME=/home/gantry
USER 10001:10001
EXPOSE 8080
CMD ["node", "--import", "tsx", "api/main.ts"]

# The build worker's tools (GANTRY_WORKER_ROLE=build): git from Debian, buildctl from BuildKit's
# image, hadolint from its image. Only built for `--opt target=build-worker`.
FROM ${BUILDKIT_IMAGE} AS buildkit
FROM ${HADOLINT_IMAGE} AS hadolint
FROM runtime AS build-worker
USER 0:0
RUN apt-get update \
    && apt-get install -y --no-install-recommends git=1:2.39.5-0+deb12u3 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=buildkit /usr/bin/buildctl /usr/local/bin/buildctl
COPY --from=hadolint /bin/hadolint /usr/local/bin/hadolint
USER 10001:10001

# The default target: the API and the release worker.
FROM runtime AS gantry
