# syntax=docker/dockerfile:1
# The ratewarden image: one program, `ratewarden <command>` (DESIGN.md); the Helm charts run
# `sidecar` and `analyzer`. Multi-stage: compile and prune on node:20-bookworm-slim, run on
# distroless Node.js 20 (no shell, no package manager) as uid 10001, read-only root filesystem
# friendly (the process writes nothing outside /tmp, which the charts mount as an emptyDir).
#
#   docker build -t ratewarden/ratewarden:0.1.0 .
#   docker build --build-arg NPM_CI_FLAGS= -t ratewarden/ratewarden:0.1.0-tfjs-node .   # with @tensorflow/tfjs-node
#
# By default the optional @tensorflow/tfjs-node (a native library of several hundred MB fetched at
# install) is left out: the analyzer then uses the wasm backend and logs which one it chose.

ARG BUILD_IMAGE=node:20-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs20-debian12:nonroot

# ---- build: install exactly the lock file, compile, drop dev dependencies -----------------------
FROM ${BUILD_IMAGE} AS build
ARG NPM_CI_FLAGS="--omit=optional --ignore-scripts"
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci ${NPM_CI_FLAGS}
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY models ./models
COPY sidecar ./sidecar
COPY analyzer ./analyzer
COPY cli ./cli
COPY bench ./bench
COPY simulator ./simulator
COPY examples ./examples
# /out is the whole runtime tree: package.json (the CLI reads its version), the compiled code, the
# production dependencies, and the runtime assets of package.json "files" that exist.
RUN npm run build \
 && npm prune --omit=dev ${NPM_CI_FLAGS} \
 && mkdir -p /out \
 && cp -r package.json bin dist node_modules examples /out/ \
 && for d in models/artifacts analyzer/ui/static; do \
      if [ -d "$d" ]; then mkdir -p "/out/$d" && cp -r "$d/." "/out/$d/"; fi; \
    done

# ---- runtime --------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# owned by root and read-only to the process: it cannot change its own code
COPY --from=build /out /app
USER 10001:10001
# 8080 sidecar proxy, 9091 sidecar admin (/metrics /healthz /readyz), 9090 analyzer API/UI
EXPOSE 8080 9090 9091
# distroless has node at /nodejs/bin/node and nothing else on PATH
ENTRYPOINT ["/nodejs/bin/node", "dist/cli/main.js"]
CMD ["--help"]
