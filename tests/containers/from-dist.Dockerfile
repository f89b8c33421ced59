# A function image that takes ferric from the image stage (Dockerfile.dist) instead of building
# it: the README's one COPY line. scripts/containers.sh tags its local build of Dockerfile.dist
# with FERRIC_IMAGE's name (the name it will be published under).
ARG FERRIC_IMAGE=ghcr.io/ferric-lambda/ferric:0.1.0
ARG PYTHON_VERSION=3.12
FROM ${FERRIC_IMAGE} AS ferric

FROM python:${PYTHON_VERSION}-slim
ENV LAMBDA_TASK_ROOT=/var/task \
    FERRIC_LISTEN=0.0.0.0:8080
WORKDIR ${LAMBDA_TASK_ROOT}
COPY --from=ferric /ferric /usr/local/bin/ferric
COPY examples/python/app/ ./
USER 65534:65534
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/ferric"]
CMD ["handler.handler"]
