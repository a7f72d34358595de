"""A policy that plays fixed turns, for rollout tests: turn i of every conversation is
`texts[i]`, and an answer once they run out. It keeps the conversations it was shown."""
from sandmle.policies.base import Generation

ANSWER = "<think>done</think><answer>submission.csv</answer>"


class ScriptedTurns:
    name = "script"

    def __init__(self, texts):
        self.texts = list(texts)
        self.seen: list[list[dict]] = []

    def generate(self, conversations, sampling):
        self.seen.extend(conversations)
        out = []
        for conv in conversations:
            turn = sum(m["role"] == "assistant" for m in conv)
            out.append(Generation(text=self.texts[turn] if turn < len(self.texts) else ANSWER))
        return out

    def close(self):
        pass
