# syntax=docker/dockerfile:1
# Build the manager binary.
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH

WORKDIR /workspace
# Module downloads get their own layer: it is rebuilt only when go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download

# The sources the manager is built from (tests and tool modules under hack/ are
# not needed; .dockerignore keeps bin/, .git and the like out of the context).
COPY main.go ./
COPY api/ api/
COPY controllers/ controllers/
COPY internal/ internal/

# CGO off: a static binary for the distroless image. GOARCH is left to the
# builder platform when TARGETARCH is empty (plain `docker build`).
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o manager .

# Run it from a distroless image: no shell, no package manager, non-root.
# https://github.com/GoogleContainerTools/distroless
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/manager .
USER 65532:65532

ENTRYPOINT ["/manager"]
