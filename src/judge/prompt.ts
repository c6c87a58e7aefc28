/**
 * The judge prompt: single-answer grading on a 1–10 scale, after the MT-bench "single-v1" judge of
 * Zheng et al. (2023), "Judging LLM-as-a-Judge with MT-Bench and Chatbot Arena" (NeurIPS Datasets
 * and Benchmarks; FastChat, fastchat/llm_judge/data/judge_prompts.jsonl, Apache-2.0). The wording
 * below is lape's own; it keeps that prompt's structure: an impartial-judge instruction naming the
 * criteria, a short explanation first, then the rating in double brackets, "[[7]]", which
 * score.ts parses. The paper (Tang et al. 2024, Table 1) used GPT-4 with MT-bench's judge.
 */
export const JUDGE_PROMPT_ID = 'lape-single-v1';

export const JUDGE_PROMPT_SOURCE =
  'after the MT-bench single-answer judge (Zheng et al. 2023, FastChat judge_prompts.jsonl "single-v1", Apache-2.0), reworded';

export const SYSTEM_MESSAGE = 'You are a careful and fair evaluator of answers written by AI assistants.';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** The messages for one question and answer. */
export function judgeMessages(question: string, answer: string): ChatMessage[] {
  const user = [
    '[Task]',
    'Judge, without bias, how good the AI assistant\'s answer to the user\'s question below is. Weigh how',
    'helpful, relevant, accurate, deep, creative and detailed it is, and whether it is written in the',
    'language of the question. First explain your judgement briefly and objectively. Then give a',
    'rating from 1 (worst) to 10 (best), written exactly in this form: "[[rating]]", for example',
    '"Rating: [[6]]".',
    '',
    '[Question]',
    question,
    '',
    '[Start of the assistant\'s answer]',
    answer,
    '[End of the assistant\'s answer]',
  ].join('\n');
  return [
    { role: 'system', content: SYSTEM_MESSAGE },
    { role: 'user', content: user },
  ];
}
