# A CPU image that runs the demo and serves the explorer:
#   docker build -t synth-health .
#   docker run --rm -p 8501:8501 synth-health
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# torch comes from PyTorch's CPU index first: the default index serves a CUDA build.
COPY requirements.txt .
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
    && pip install --no-cache-dir -r requirements.txt

COPY . .
RUN useradd --create-home --uid 10001 synth && chown -R 10001 /app
USER 10001

EXPOSE 8501
# Inside the container the explorer listens on all interfaces so that -p can publish it.
CMD ["sh", "-c", "python -m synth demo --config configs/nafld.yml && streamlit run app/explorer.py --server.address 0.0.0.0 --server.port 8501 --server.headless true --browser.gatherUsageStats false -- --config configs/nafld.yml"]
