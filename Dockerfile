# One image for every envgrid component; compose.yaml picks the subcommand.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY common common
COPY edge edge
COPY gateway gateway
COPY cloud cloud
COPY firmware-sim firmware-sim
COPY cli cli
RUN pip install --no-cache-dir -c constraints.txt ".[cloud,gateway,edge,sim]"
ENV ENVGRID_LOG_LEVEL=INFO
ENTRYPOINT ["envgrid"]
CMD ["--help"]
