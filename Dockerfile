# syntax=docker/dockerfile:1
# Images of the Siskin controller (the default target) and of the load tester:
#   docker build --build-arg VERSION=$V -t ghcr.io/siskin-dev/siskin:$V .
#   docker build --build-arg VERSION=$V -t ghcr.io/siskin-dev/siskin-loadtester:$V --target loadtester .
#   docker build --build-arg VERSION=$V -t ghcr.io/siskin-dev/siskin-dashboard:$V --target dashboard .
# Static binaries on distroless, running as the non-root user 65532. BuildKit builds only the
# stages the chosen target needs.

FROM --platform=$BUILDPLATFORM golang:1.26 AS source
WORKDIR /src
# Modules first, so that a source change reuses the download layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .

FROM source AS build-siskin
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=${VERSION}" -o /out/siskin ./cmd/siskin

FROM source AS build-loadtester
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=${VERSION}" -o /out/siskin-loadtester ./cmd/loadtester

FROM source AS build-dashboard
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false -ldflags "-s -w" -o /out/siskin-dashboard ./cmd/siskin-dashboard

FROM gcr.io/distroless/static:nonroot AS dashboard
COPY --from=build-dashboard /out/siskin-dashboard /usr/local/bin/siskin-dashboard
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/siskin-dashboard"]

FROM gcr.io/distroless/static:nonroot AS loadtester
COPY --from=build-loadtester /out/siskin-loadtester /usr/local/bin/siskin-loadtester
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/siskin-loadtester"]

# Last, so that a build without --target gives the controller.
FROM gcr.io/distroless/static:nonroot AS siskin
COPY --from=build-siskin /out/siskin /usr/local/bin/siskin
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/siskin"]
