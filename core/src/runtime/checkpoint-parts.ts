/** The name of an instance's part of a checkpoint: its component and index, which a rescale keeps for the instances it keeps. */
export function checkpointPart(component: string, componentIndex: number): string {
  return `${component}-${componentIndex}`;
}

/** The component a checkpoint part belongs to. */
export function componentOfPart(part: string): string | undefined {
  return /^(.*)-\d+$/.exec(part)?.[1];
}
