# A stand-in for the official redis image where no registry is reachable: Debian's
# redis-server, run as the redis user. Used only by the opt-in container test.
ARG INFRA_IMAGE=local/bookworm-infra:latest
FROM ${INFRA_IMAGE}
# hadolint ignore=DL3066
USER redis
EXPOSE 6379
CMD ["redis-server", "--save", "", "--appendonly", "no", "--protected-mode", "no"]
