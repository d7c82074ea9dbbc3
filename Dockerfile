# Portcullis container image: build with the dev toolchain, run on Node 24 LTS slim as a non-root user.
# Config is read from /etc/portcullis/gateway.yaml (mount it); state that must survive restarts
# (the SQLite user store, generated keys) belongs under /var/lib/portcullis (mount a volume).

FROM node:24-bookworm-slim AS build
WORKDIR /app
# Compilers only in case a native module has no prebuilt binary for this platform.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json build.mjs ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY config ./config
COPY gateway ./gateway
COPY admin ./admin
RUN node build.mjs

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json build.mjs ./
# Production dependencies only; the compilers are removed in the same layer so they never ship.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force \
 && apt-get purge -y python3 make g++ && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /app/dist ./dist
COPY gateway.yaml.example ./
RUN mkdir -p /etc/portcullis /var/lib/portcullis /app/data \
 && chown node:node /var/lib/portcullis /app/data
USER node
EXPOSE 8080 9090
VOLUME ["/var/lib/portcullis"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.ADMIN_PORT||9090)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/gateway/cli.js"]
CMD ["start", "--config", "/etc/portcullis/gateway.yaml"]
