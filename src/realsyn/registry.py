"""The built-in stages in run order, as "module:Class", so that a stage's model libraries are
imported only when it runs. Issues that add a stage add a line here."""

from __future__ import annotations

STAGES: dict[str, str] = {
    "ingest": "realsyn.ingest.stage:IngestStage",
    "extract_images": "realsyn.extract.stages:ExtractImagesStage",
    "extract_sentences": "realsyn.extract.stages:ExtractSentencesStage",
    "dedup": "realsyn.extract.stages:DedupStage",
    "embed": "realsyn.embed.stage:EmbedStage",
    "semantic_dedup": "realsyn.extract.stages:SemanticDedupStage",
    "retrieve": "realsyn.retrieve.stage:RetrieveStage",
    "generate": "realsyn.generate.stage:GenerateStage",
    "balance": "realsyn.balance.stage:BalanceStage",
    "write": "realsyn.write.stage:WriteStage",
}
