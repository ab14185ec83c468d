"""The KG teacher: per-entity vectors H = [Z; Z'; Z''] (text, Graph Transformer, TransR)."""

from kogner.teacher.train import TeacherSettings, train_teacher

__all__ = ["TeacherSettings", "train_teacher"]
