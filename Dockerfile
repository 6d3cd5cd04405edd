# The kindlike node image: nothing but the static kindlike binary. `kindlike create
# cluster` builds this same image through the Docker API (no registry is contacted);
# this file lets `docker build` make it by hand from `make build` output.
FROM scratch
COPY bin/kindlike /kindlike
ENTRYPOINT ["/kindlike"]
CMD ["node"]
