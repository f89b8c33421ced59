# The build context that Dockerfile.python and Dockerfile.node get (after .dockerignore), as an
# image to list: scripts/containers.sh checks what it holds.
FROM scratch
COPY . /context/
