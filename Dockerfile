# Ferry's image: the node on Node 24 (TypeScript run by type stripping: no
# build step), production dependencies only, a non-root user, ready for a
# read-only root filesystem (everything it writes lives under --home).
# Envoy is not in it: the Helm chart runs the official envoyproxy/envoy image
# beside it (docs/kubernetes.md). Build: docker build -t ferry:0.1.0 .
# (or podman/buildah). test/e2e/helm-dockerfile.test.ts runs these steps'
# commands in a clean directory.
FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error && rm -rf "$HOME/.npm"
COPY control-plane ./control-plane
COPY envoy ./envoy
COPY certs ./certs
COPY interop ./interop
COPY examples ./examples
# The web console: its page and the committed bundle (built from console/src; docs/console.md).
COPY console/index.html ./console/index.html
COPY console/dist ./console/dist
# `ferry` on PATH, and a check that the program loads with these files only.
RUN printf '#!/bin/sh\nexec node --disable-warning=ExperimentalWarning /app/control-plane/cli/main.ts "$@"\n' > /app/ferry \
 && chmod 0755 /app/ferry \
 && /app/ferry --help > /dev/null
ENV PATH=/app:$PATH
USER 10001:10001
ENTRYPOINT ["ferry"]
CMD ["--help"]
