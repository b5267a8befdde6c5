/** A remote job's state (Vertex AI's JOB_STATE_*) as people say it; shared by the CLI, the host and the panel page. */
export function jobStateWord(state: string): string {
  return state.replace(/^JOB_STATE_/, '').toLowerCase().replace(/_/g, ' ');
}
